"""Helpers: build the component from YAML attributes, run it in process, read the warehouse and the simulator."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
from dagster_duckdb import DuckDBResource
from dataplat_api_sources.components import PaymentsApiIngestionComponent
from dataplat_core.resources import PaymentsApi
from dataplat_core.testing import declared_component

LOAD_ONLY, LOAD_AND_CHECK = "load_only", "load_and_check"
ALL_RESOURCES = [
    {"name": "payments", "write_disposition": "merge", "primary_key": ["payment_id"]},
    {"name": "refunds", "write_disposition": "merge", "primary_key": ["refund_id"]},
    {"name": "events", "write_disposition": "append", "primary_key": ["event_id"]},
    {"name": "payment_methods", "write_disposition": "replace", "primary_key": ["code"]},
]
# Small waits so fault tests stay fast; the policy's shape (attempt limit, backoff, Retry-After) is unchanged.
FAST_RETRY = {
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.2,
    "read_timeout_seconds": 2.0,
    "max_attempts": 10,
}


def attributes(**overrides: Any) -> dict[str, Any]:
    return {"resources": ALL_RESOURCES, "retry": FAST_RETRY, "page_size": 500, **overrides}


@contextlib.contextmanager
def component_defs(attrs: dict[str, Any]) -> Iterator[tuple[PaymentsApiIngestionComponent, dg.Definitions]]:
    """The component loaded exactly as a deployment loads it: from a defs.yaml (resources bound by the test)."""
    with declared_component(PaymentsApiIngestionComponent, attrs, platform_resources=False) as declared:
        yield declared


@dataclass
class Platform:
    """The component's definitions bound to a simulator and a DuckDB file."""

    defs: dg.Definitions
    component: PaymentsApiIngestionComponent
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
        return self.query(f"select count(*) from payments_api.{table}")[0][0]


@pytest.fixture
def make_platform(payments_api, tmp_path):
    """Factory: `make_platform(**attribute_overrides, api=..., token=...)` -> Platform (closed at teardown)."""
    stack = contextlib.ExitStack()

    def make(api=None, token: str | None = None, **overrides: Any) -> Platform:
        api = api or payments_api
        component, defs = stack.enter_context(component_defs(attributes(**overrides)))
        path = tmp_path / "warehouse.duckdb"
        resources = {
            "payments_api": PaymentsApi(base_url=api.url, token=token or api.token),
            "warehouse": DuckDBResource(database=str(path)),
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
