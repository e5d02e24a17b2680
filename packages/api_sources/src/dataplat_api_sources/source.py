"""The payments API as a dlt `rest_api` source: a declarative `RESTAPIConfig`, no hand-written request loop.

- client: base URL, bearer token, the API's cursor pagination (`{"data": [...], "next_cursor": ...}`, next page
  with `?cursor=`), and the retrying session from `http.py`;
- one resource per endpoint, with its write disposition, primary key, declared columns and an incremental block
  bound to the endpoint's `*_since`/`*_until` parameters (`partitions.py`);
- each page is turned into one Arrow table (`arrow.py`) before dlt sees it, so dlt writes Parquet and loads it
  in bulk instead of normalising row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from dataplat_api_sources.http import RetryingSession
from dataplat_api_sources.partitions import Window, incremental_window_config

if TYPE_CHECKING:  # dlt and pyarrow cost ~1 s to import: only runs need them, not definitions loading
    from dlt.extract.source import DltSource
    from dlt.sources.rest_api.typing import RESTAPIConfig

WriteDisposition = Literal["append", "merge", "replace"]
SchemaContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]


@dataclass(frozen=True)
class Endpoint:
    """What the API serves at one path: its cursor column, filter parameters and documented fields."""

    path: str
    cursor: str
    since_param: str
    until_param: str
    columns: dict[str, str]  # dlt data types of the documented fields, in API order


# The payments provider's documented endpoints (see the sandbox simulator's README for the same contract).
PAYMENTS_ENDPOINTS: dict[str, Endpoint] = {
    "payments": Endpoint(
        "payments", "updated_at", "updated_since", "updated_until",
        {"payment_id": "bigint", "order_id": "bigint", "amount": "double", "currency": "text", "method": "text",
         "status": "text", "created_at": "timestamp", "updated_at": "timestamp"},
    ),
    "refunds": Endpoint(
        "refunds", "updated_at", "updated_since", "updated_until",
        {"refund_id": "bigint", "payment_id": "bigint", "order_id": "bigint", "amount": "double", "reason": "text",
         "created_at": "timestamp", "updated_at": "timestamp"},
    ),
    "events": Endpoint(
        "events", "created_at", "created_since", "created_until",
        {"event_id": "bigint", "type": "text", "object_id": "bigint", "created_at": "timestamp"},
    ),
    "payment_methods": Endpoint(
        "payment_methods", "updated_at", "updated_since", "updated_until",
        {"code": "text", "name": "text", "active": "bool", "updated_at": "timestamp"},
    ),
}  # fmt: skip


class InvalidResourceConfig(ValueError):
    pass


@dataclass(frozen=True)
class ResourceSpec:
    """How one endpoint is loaded."""

    name: str
    write_disposition: WriteDisposition = "append"
    primary_key: tuple[str, ...] = ()
    endpoint: Endpoint | None = None  # defaults to PAYMENTS_ENDPOINTS[name]
    table_name: str | None = None
    incremental: bool = field(default=True)  # replace resources always read everything

    def __post_init__(self) -> None:
        if self.endpoint is None:
            if self.name not in PAYMENTS_ENDPOINTS:
                raise InvalidResourceConfig(
                    f"unknown payments API resource {self.name!r}; known: {', '.join(PAYMENTS_ENDPOINTS)}"
                )
            object.__setattr__(self, "endpoint", PAYMENTS_ENDPOINTS[self.name])
        object.__setattr__(self, "primary_key", tuple(self.primary_key))
        # dlt silently turns `merge` without a key into `append`: updated rows would be duplicated.
        if self.write_disposition == "merge" and not self.primary_key:
            raise InvalidResourceConfig(
                f"resource {self.name!r}: write_disposition 'merge' needs a primary_key "
                "(without one dlt silently appends, duplicating every updated row)"
            )
        unknown = set(self.primary_key) - set(self.endpoint.columns)
        if unknown:
            raise InvalidResourceConfig(
                f"resource {self.name!r}: primary_key names unknown columns {sorted(unknown)}"
            )

    @property
    def table(self) -> str:
        return self.table_name or self.name

    @property
    def is_incremental(self) -> bool:
        # A `replace` load keeps only what this run read: reading only changes would empty the table.
        return self.incremental and self.write_disposition != "replace"

    def dlt_write_disposition(self, window: Window | None) -> Any:
        """The disposition handed to dlt.

        A re-run must not duplicate append-only rows (events): an `append` resource with a primary key loads
        with merge strategy `insert-only` - rows are only ever added, never changed, and a row already loaded
        is skipped. That covers a partition re-run and also an unpartitioned run killed after its rows were
        committed but before dlt stored the advanced cursor: the re-run reads those rows again and skips them.
        """
        if self.write_disposition == "append" and self.primary_key:
            return {"disposition": "merge", "strategy": "insert-only"}
        return self.write_disposition


def rest_api_config(
    *,
    base_url: str,
    token: str,
    resources: Sequence[ResourceSpec],
    window: Window | None,
    initial_value: datetime,
    session: RetryingSession | None = None,
    page_size: int = 5000,
) -> RESTAPIConfig:
    """The declarative description of the load for dlt's `rest_api` (pure data plus the session object)."""
    client: dict[str, Any] = {
        "base_url": base_url.rstrip("/") + "/",
        "auth": {"type": "bearer", "token": token},
        "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    }
    if session is not None:
        client["session"] = session
    entries: list[dict[str, Any]] = []
    for spec in resources:
        endpoint = spec.endpoint
        assert endpoint is not None
        resource_endpoint: dict[str, Any] = {"path": endpoint.path, "params": {"limit": page_size}}
        if spec.is_incremental:
            resource_endpoint["incremental"] = incremental_window_config(
                endpoint.cursor, endpoint.since_param, endpoint.until_param, window, initial_value
            )
        entry: dict[str, Any] = {
            "name": spec.name,
            "table_name": spec.table,
            "write_disposition": spec.dlt_write_disposition(window),
            "columns": {
                name: {"data_type": dtype, "nullable": name not in spec.primary_key}
                for name, dtype in endpoint.columns.items()
            },
            "endpoint": resource_endpoint,
            # Fetch page N+1 in dlt's worker thread while this thread turns page N into Arrow and writes it
            # (the API's cursor pagination is sequential; the work around each page need not be).
            "parallelized": True,
        }
        if spec.primary_key:
            entry["primary_key"] = list(spec.primary_key)
        if spec.write_disposition == "merge" and spec.is_incremental:
            # A row updated while we page can arrive twice in one load; keep the newest, not an arbitrary one.
            entry["columns"][endpoint.cursor]["dedup_sort"] = "desc"
        entries.append(entry)
    return {
        "client": client,  # type: ignore[typeddict-item]
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": entries,  # type: ignore[typeddict-item]
    }


def payments_source(
    *,
    base_url: str,
    token: str,
    resources: Sequence[ResourceSpec],
    window: Window | None = None,
    initial_value: datetime,
    schema_contract: SchemaContractMode = "evolve",
    session: RetryingSession | None = None,
    page_size: int = 5000,
    name: str = "payments_api",
) -> DltSource:
    """The dlt source. Building it does no I/O: requests start when a pipeline extracts it."""
    from dlt.sources.rest_api import rest_api_source

    from dataplat_api_sources.arrow import PageToArrow

    config = rest_api_config(
        base_url=base_url, token=token, resources=resources, window=window, initial_value=initial_value,
        session=session, page_size=page_size,
    )  # fmt: skip
    # New API fields: enforced per page against the declared columns (arrow.py), and by dlt against the schema
    # it restored (DataValidationError). Tables are always allowed: the declared columns create them.
    source = rest_api_source(
        config, name=name, schema_contract={"columns": schema_contract, "tables": "evolve"}
    )
    for spec in resources:
        assert spec.endpoint is not None
        source.resources[spec.name].add_step(
            PageToArrow(spec.endpoint.columns, spec.name, schema_contract, spec.primary_key)
        )
    return source
