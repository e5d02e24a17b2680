"""Helpers: declare the component from the tests' API declarations (`apis/*.yaml`), run it in process, read the
warehouse and the simulators."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
import yaml
from dataplat_api_sources.components import RestApiIngestionComponent
from dataplat_api_sources.declaration import RestApiConnection
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.testing import declared_component
from dataplat_sandbox.shipments_api import ShipmentsApiServer, fetch_all_shipments

LOAD_ONLY, LOAD_AND_CHECK = "load_only", "load_and_check"
APIS = Path(__file__).parent / "apis"
PAGE_SIZE_PARAM = {"payments": "limit", "shipments": "per_page"}
# Small waits so fault tests stay fast; the policy's shape (attempt limit, backoff, Retry-After) is unchanged.
FAST_RETRY = {
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.2,
    "read_timeout_seconds": 2.0,
    "max_attempts": 10,
}


def declared(api: str = "payments") -> dict[str, Any]:
    """The attributes of an API's declaration in `apis/<api>.yaml`."""
    return yaml.safe_load((APIS / f"{api}.yaml").read_text())


def attributes(
    api: str = "payments", *, only: list[str] | None = None, page_size: int | None = None, **overrides: Any
) -> dict[str, Any]:
    """An API's declared attributes with fast retries; `only` keeps the resources named, `page_size` sets the
    API's page size parameter, `overrides` replace top-level keys."""
    attrs = declared(api)
    if only is not None:
        unknown = set(only) - {r["name"] for r in attrs["resources"]}
        assert not unknown, f"{api} declares no resource {sorted(unknown)}"
        attrs["resources"] = [r for r in attrs["resources"] if r["name"] in only]
    if page_size is not None:
        attrs["client"]["params"][PAGE_SIZE_PARAM[api]] = page_size
    return {**attrs, "retry": FAST_RETRY, **overrides}


def connection(api, **secret: str) -> RestApiConnection:
    """The connection resource for a simulator: its URL and its own kind of secret (or the one given)."""
    if isinstance(api, ShipmentsApiServer):
        return RestApiConnection(base_url=api.url, **({"api_key": api.api_key} | secret))
    return RestApiConnection(base_url=api.url, **({"token": api.token} | secret))


@contextlib.contextmanager
def component_defs(attrs: dict[str, Any]) -> Iterator[tuple[RestApiIngestionComponent, dg.Definitions]]:
    """The component loaded exactly as a deployment loads it: from a defs.yaml (resources bound by the test)."""
    with declared_component(RestApiIngestionComponent, attrs, platform_resources=False) as declared_:
        yield declared_


@dataclass
class Platform:
    """The component's definitions bound to a simulator and a DuckDB file."""

    defs: dg.Definitions
    component: RestApiIngestionComponent
    warehouse_path: Path

    def run(
        self, partition_key: str | None = None, *, checks: bool = False, tags: dict | None = None
    ) -> dg.ExecuteInProcessResult:
        """One run of every asset; with `checks` also every check (each check is a step: slower)."""
        job = self.defs.resolve_job_def(LOAD_AND_CHECK if checks else LOAD_ONLY)
        return job.execute_in_process(raise_on_error=False, partition_key=partition_key, tags=tags)

    def backfill(self, first: str, last: str, *, checks: bool = False) -> dg.ExecuteInProcessResult:
        """A single-run backfill of a partition range, as the daemon launches it."""
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        return self.run(checks=checks, tags=tags)

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as conn:
            return conn.execute(sql).fetchall()

    def count(self, table: str) -> int:
        return self.query(f"select count(*) from {self.component.dataset}.{table}")[0][0]

    def keys(self, resource: str) -> list:
        """The primary key values of a resource's table (first key column), in no particular order."""
        spec = self.component.resource_spec(resource)
        return [
            r[0]
            for r in self.query(f"select {spec.primary_key[0]} from {self.component.dataset}.{spec.table}")
        ]


@pytest.fixture
def make_platform(payments_api, tmp_path):
    """Factory: `make_platform(**attribute_overrides, api=..., secret=...)` -> Platform (closed at teardown):
    the declaration of the simulator's API (`apis/payments.yaml` unless `api` is the shipments simulator)."""
    stack = contextlib.ExitStack()

    def make(api=None, token: str | None = None, **overrides: Any) -> Platform:
        api = api or payments_api
        name = "shipments" if isinstance(api, ShipmentsApiServer) else "payments"
        component, defs = stack.enter_context(component_defs(attributes(name, **overrides)))
        path = tmp_path / "warehouse.duckdb"
        secret = {} if token is None else {"api_key" if name == "shipments" else "token": token}
        resources = {
            component.client.resource: connection(api, **secret),
            "warehouse": WarehouseDuckDB(database=str(path)),
        }
        jobs = [
            dg.define_asset_job(
                LOAD_ONLY,
                selection=dg.AssetSelection.all(include_sources=False) - dg.AssetSelection.all_asset_checks(),
            ),
            dg.define_asset_job(LOAD_AND_CHECK, selection=dg.AssetSelection.all()),
        ]
        extra = dg.Definitions(resources=resources, jobs=jobs)
        return Platform(dg.Definitions.merge(defs, extra), component, path)

    with stack:
        yield make


def api_rows(api, path: str, **params: str) -> list[dict]:
    """Every row the simulator serves for `path` (a plain reference client, independent of the code under test)."""
    if isinstance(api, ShipmentsApiServer):
        return fetch_all_shipments(api.url, api.api_key, path, **params)
    rows, cursor = [], None
    while True:
        query = {"limit": 10_000, **params, **({"cursor": cursor} if cursor else {})}
        response = requests.get(
            f"{api.url}/{path}", params=query, headers={"Authorization": f"Bearer {api.token}"}, timeout=10
        )
        response.raise_for_status()
        body = response.json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def iso(ts) -> str:
    """A warehouse timestamp as the API writes it."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_keys(api, attrs: dict[str, Any], day: str | None = None) -> dict[str, set]:
    """The simulator's truth per resource, read with a plain client: every key, or those of one day's window
    (`YYYY-MM-DD`) for the incremental resources, by their declared start and end parameters."""
    truth = {}
    for resource in attrs["resources"]:
        params = {}
        incremental = resource["endpoint"].get("incremental")
        if day and incremental and resource.get("write_disposition") != "replace":
            start = datetime.fromisoformat(day).replace(tzinfo=UTC)
            end = start + timedelta(days=1)
            params = {incremental["start_param"]: iso(start), incremental["end_param"]: iso(end)}
        key = resource["primary_key"][0]
        truth[resource["name"]] = {r[key] for r in api_rows(api, resource["endpoint"]["path"], **params)}
    return truth


def loaded_keys(path, attrs: dict[str, Any]) -> dict[str, list]:
    """The key values each declared resource's table holds (empty for a table not created yet)."""
    dataset = attrs["dataset"]
    with duckdb.connect(str(path), read_only=True) as wh:
        present = {
            r[0]
            for r in wh.execute(
                "select table_name from duckdb_tables() where schema_name = ?", [dataset]
            ).fetchall()
        }
        return {
            r["name"]: [
                row[0]
                for row in wh.execute(f"select {r['primary_key'][0]} from {dataset}.{r['name']}").fetchall()
            ]
            if r["name"] in present
            else []
            for r in attrs["resources"]
        }
