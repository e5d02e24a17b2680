"""What a deployment declares about a REST API, in dlt `rest_api`'s own terms, as typed models.

A YAML file declares the client (which Dagster resource holds the base URL and the secret, the auth scheme, the
paginator, where the records sit in a page) and one entry per endpoint (path, parameters, incremental cursor and
its start/end parameters, columns, primary key, write disposition). Every field is checked when the code location
loads - a typo in a paginator or a merge without a key fails `dg check defs`, not the first run - and the models
turn into dlt's `RESTAPIConfig` in `source.py` without dlt being imported here (it costs a code server ~1 s).

The paginators, auth schemes and their field names are dlt's (`dlt.sources.helpers.rest_client.paginators`,
`.auth`); only the ones listed here are accepted, each with dlt's defaults.
"""

from __future__ import annotations

from typing import Any, Literal

import dagster as dg
from pydantic import Field, model_validator

ColumnType = Literal["bigint", "double", "text", "bool", "timestamp"]
WriteDisposition = Literal["append", "merge", "replace"]
SchemaContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]
ParamValue = str | int | float | bool


class CursorPaginator(dg.Model):
    """The next page's cursor is a field of the page (dlt `cursor`: `JSONResponseCursorPaginator`)."""

    type: Literal["cursor"]
    cursor_path: str = "cursors.next"
    cursor_param: str = "cursor"


class PageNumberPaginator(dg.Model):
    """Pages counted from `base_page`; stops at the total found at `total_path`, or at the first empty page."""

    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 0
    total_path: str | None = "total"
    maximum_page: int | None = None


class OffsetPaginator(dg.Model):
    """`offset`/`limit` parameters; stops at the total found at `total_path`, or at the first empty page."""

    type: Literal["offset"]
    limit: int
    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = "total"
    maximum_offset: int | None = None


class HeaderLinkPaginator(dg.Model):
    """The next page's URL in the `Link` header (RFC 8288), as GitHub's API does."""

    type: Literal["header_link"]
    links_next_key: str = "next"


class JsonLinkPaginator(dg.Model):
    """The next page's URL is a field of the page."""

    type: Literal["json_link"]
    next_url_path: str = "next"


class SinglePage(dg.Model):
    """The endpoint answers in one page."""

    type: Literal["single_page"]


# A plain union (Dagster's component models take no `Annotated` discriminator): each member's `type` literal
# still selects exactly one of them.
Paginator = (
    CursorPaginator
    | PageNumberPaginator
    | OffsetPaginator
    | HeaderLinkPaginator
    | JsonLinkPaginator
    | SinglePage
)


class Auth(dg.Model):
    """How requests authenticate. The secret itself is never declared: it is a field of the client's resource
    (`token` for bearer, `api_key` for api_key, `username`/`password` for http_basic), set from the environment."""

    type: Literal["bearer", "api_key", "http_basic", "none"] = "bearer"
    name: str = "Authorization"  # api_key: the header or query parameter that carries the key
    location: Literal["header", "query"] = "header"

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return {"bearer": ("token",), "api_key": ("api_key",), "http_basic": ("username", "password")}.get(
            self.type, ()
        )


class Client(dg.Model):
    """The API as a whole: every endpoint shares it."""

    resource: str  # the Dagster resource key that holds `base_url` and the auth secret
    auth: Auth = Field(default_factory=Auth)
    paginator: Paginator
    data_selector: str  # where a page's records are (a JSONPath: `data`, `results`, `response.items`)
    params: dict[str, ParamValue] = {}  # sent with every request, e.g. the page size


class Incremental(dg.Model):
    """The endpoint's time column and the parameters that bound it (start inclusive, end exclusive)."""

    cursor_path: str
    start_param: str
    end_param: str | None = None  # without one, a partition's window cannot be bounded above


class Endpoint(dg.Model):
    path: str
    params: dict[str, ParamValue] = {}
    data_selector: str | None = None  # default: the client's
    paginator: Paginator | None = None  # default: the client's
    incremental: Incremental | None = None


class ApiResource(dg.Model):
    """One endpoint loaded into one table."""

    name: str
    endpoint: Endpoint
    columns: dict[str, ColumnType]  # the documented fields, in the API's order, as dlt data types
    primary_key: list[str] = []
    write_disposition: WriteDisposition = "append"
    table_name: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ApiResource:
        if not self.columns:
            raise ValueError(f"resource {self.name!r}: declare its columns")
        # dlt silently turns `merge` without a key into `append`: updated rows would be duplicated.
        if self.write_disposition == "merge" and not self.primary_key:
            raise ValueError(
                f"resource {self.name!r}: write_disposition 'merge' needs a primary_key "
                "(without one dlt silently appends, duplicating every updated row)"
            )
        unknown = sorted(set(self.primary_key) - set(self.columns))
        if unknown:
            raise ValueError(f"resource {self.name!r}: primary_key names unknown columns {unknown}")
        if self.cursor and self.cursor not in self.columns:
            raise ValueError(
                f"resource {self.name!r}: incremental cursor_path {self.cursor!r} is not one of its columns"
            )
        if self.cursor and self.columns[self.cursor] != "timestamp":
            raise ValueError(
                f"resource {self.name!r}: the incremental cursor {self.cursor!r} must be a timestamp"
            )
        return self

    @property
    def table(self) -> str:
        return self.table_name or self.name

    @property
    def cursor(self) -> str | None:
        """The records' time column, also for a resource loaded whole (freshness, data version)."""
        return self.endpoint.incremental.cursor_path if self.endpoint.incremental else None

    @property
    def is_incremental(self) -> bool:
        # A `replace` load keeps only what this run read: reading only changes would empty the table.
        return self.endpoint.incremental is not None and self.write_disposition != "replace"

    def dlt_write_disposition(self) -> Any:
        """The disposition handed to dlt.

        A re-run must not duplicate append-only rows: an `append` resource with a primary key loads with merge
        strategy `insert-only` - rows are only ever added, never changed, and a row already loaded is skipped.
        That covers a partition re-run and also an unpartitioned run killed after its rows were committed but
        before dlt stored the advanced cursor: the re-run reads those rows again and skips them.
        """
        if self.write_disposition == "append" and self.primary_key:
            return {"disposition": "merge", "strategy": "insert-only"}
        return self.write_disposition


class RestApiConnection(dg.ConfigurableResource):
    """Where an API is and its secret: bind one per API, with values from `dg.EnvVar`, under the key the
    component's `client.resource` names. Only the field its auth scheme reads needs a value."""

    base_url: str
    token: str | None = Field(default=None, repr=False)
    api_key: str | None = Field(default=None, repr=False)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)


def auth_config(auth: Auth, connection: Any, resource_key: str) -> dict[str, Any] | None:
    """dlt's auth block for a declared scheme, with the secret read from the connection resource."""
    if auth.type == "none":
        return None
    values = {name: getattr(connection, name, None) for name in auth.secret_fields}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(
            f"auth type {auth.type!r} needs {' and '.join(missing)} on resource {resource_key!r} "
            f"(a {type(connection).__name__}): set it from an environment variable (dg.EnvVar)"
        )
    if auth.type == "api_key":
        return {"type": "api_key", "name": auth.name, "location": auth.location, "api_key": values["api_key"]}
    return {"type": auth.type, **values}
