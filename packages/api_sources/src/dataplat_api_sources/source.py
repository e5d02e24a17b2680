"""A declared REST API as a dlt `rest_api` source: a `RESTAPIConfig` built from the declaration, no hand-written
request loop.

- client: base URL and auth from the connection resource, the declared paginator, and the retrying session from
  `http.py`;
- one resource per endpoint, with its write disposition, primary key, declared columns and an incremental block
  bound to the endpoint's start/end parameters (`partitions.py`);
- each page is turned into one Arrow table (`arrow.py`) before dlt sees it, so dlt writes Parquet and loads it
  in bulk instead of normalising row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dataplat_api_sources.declaration import ApiResource, Client, SchemaContractMode, auth_config
from dataplat_api_sources.http import RetryingSession, RetryPolicy
from dataplat_api_sources.partitions import Window, incremental_window_config

if TYPE_CHECKING:  # dlt and pyarrow cost ~1 s to import: only runs need them, not definitions loading
    import dagster as dg
    from dlt.extract.source import DltSource
    from dlt.sources.rest_api.typing import RESTAPIConfig


@dataclass(frozen=True)
class LoadPlan:
    """Everything one run of a declared API needs, resolved from the component when the run starts: the run
    (`load.py`) reads this, never the component, so the two modules do not know each other."""

    dataset: str
    pipeline_name: str
    client: Client
    resources: tuple[ApiResource, ...]
    asset_specs: Mapping[str, dg.AssetSpec]  # by resource name: what each dlt resource materializes
    initial_value: datetime
    schema_contract: SchemaContractMode
    policy: RetryPolicy
    loader_file_format: str

    def table(self, spec: ApiResource) -> str:
        return f"{self.dataset}.{spec.table}"

    def by_table(self, table: str) -> ApiResource:
        return next(s for s in self.resources if s.table == table)

    def build_source(
        self, connection: Any, window: Window | None = None, session: RetryingSession | None = None
    ) -> DltSource:
        """The dlt source for one run, with the base URL and the secret of the client's connection resource."""
        return declared_source(
            name=self.pipeline_name,
            base_url=connection.base_url,
            auth=auth_config(self.client.auth, connection, self.client.resource),
            client=self.client,
            resources=self.resources,
            window=window,
            initial_value=self.initial_value,
            schema_contract=self.schema_contract,
            session=session,
        )


def rest_api_config(
    *,
    base_url: str,
    auth: Mapping[str, Any] | None,
    client: Client,
    resources: Sequence[ApiResource],
    window: Window | None,
    initial_value: datetime,
    session: RetryingSession | None = None,
) -> RESTAPIConfig:
    """The declarative description of the load for dlt's `rest_api` (pure data plus the session object)."""
    client_config: dict[str, Any] = {
        "base_url": base_url.rstrip("/") + "/",
        "paginator": client.paginator.model_dump(exclude_none=True),
    }
    if auth is not None:
        client_config["auth"] = dict(auth)
    if session is not None:
        client_config["session"] = session
    entries: list[dict[str, Any]] = []
    for spec in resources:
        endpoint = spec.endpoint
        resource_endpoint: dict[str, Any] = {
            "path": endpoint.path,
            "params": {**client.params, **endpoint.params},
            "data_selector": endpoint.data_selector or client.data_selector,
        }
        if endpoint.paginator is not None:
            resource_endpoint["paginator"] = endpoint.paginator.model_dump(exclude_none=True)
        if spec.is_incremental:
            incremental = endpoint.incremental
            assert incremental is not None
            resource_endpoint["incremental"] = incremental_window_config(
                incremental.cursor_path, incremental.start_param, incremental.end_param, window, initial_value
            )
        entry: dict[str, Any] = {
            "name": spec.name,
            "table_name": spec.table,
            "write_disposition": spec.dlt_write_disposition(),
            "columns": {
                name: {"data_type": dtype, "nullable": name not in spec.primary_key}
                for name, dtype in spec.columns.items()
            },
            "endpoint": resource_endpoint,
            # Fetch page N+1 in dlt's worker thread while this thread turns page N into Arrow and writes it
            # (pagination is sequential; the work around each page need not be).
            "parallelized": True,
        }
        if spec.primary_key:
            entry["primary_key"] = list(spec.primary_key)
        if spec.write_disposition == "merge" and spec.is_incremental:
            # A row updated while we page can arrive twice in one load; keep the newest, not an arbitrary one.
            entry["columns"][spec.cursor]["dedup_sort"] = "desc"
        entries.append(entry)
    return {
        "client": client_config,  # type: ignore[typeddict-item]
        "resources": entries,  # type: ignore[typeddict-item]
    }


def declared_source(
    *,
    name: str,
    base_url: str,
    auth: Mapping[str, Any] | None,
    client: Client,
    resources: Sequence[ApiResource],
    window: Window | None = None,
    initial_value: datetime,
    schema_contract: SchemaContractMode = "evolve",
    session: RetryingSession | None = None,
) -> DltSource:
    """The dlt source. Building it does no I/O: requests start when a pipeline extracts it."""
    from dlt.sources.rest_api import rest_api_source

    from dataplat_api_sources.arrow import PageToArrow

    config = rest_api_config(
        base_url=base_url, auth=auth, client=client, resources=resources, window=window,
        initial_value=initial_value, session=session,
    )  # fmt: skip
    # New API fields: enforced per page against the declared columns (arrow.py), and by dlt against the schema
    # it restored (DataValidationError). Tables are always allowed: the declared columns create them.
    source = rest_api_source(
        config, name=name, schema_contract={"columns": schema_contract, "tables": "evolve"}
    )
    for spec in resources:
        source.resources[spec.name].add_step(
            PageToArrow(spec.columns, spec.name, schema_contract, tuple(spec.primary_key))
        )
    return source
