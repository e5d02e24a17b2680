"""The payments load records the platform's uniform metadata against the simulator's truth, names run and
partition in its log lines, and is retried by Dagster after a transient fault but not after a 401."""

import threading
from datetime import datetime

import dagster as dg
import pytest
from conftest import api_rows
from dataplat_core.observability import (
    DURATION_S,
    ROW_COUNT,
    ROWS_LOADED,
    ROWS_READ,
    ROWS_REJECTED,
    SOURCE_NEWEST_AT,
)
from dataplat_sandbox.payments_api import FaultConfig

DAY = "2026-01-03"
CURSORS = {"payments": "updated_at", "refunds": "updated_at", "events": "created_at"}
ONE_ATTEMPT = {"max_attempts": 1, "backoff_seconds": 0.01, "read_timeout_seconds": 5.0}


def _window_truth(api, table: str) -> tuple[int, float]:
    cursor = CURSORS[table]
    prefix = "created" if cursor == "created_at" else "updated"
    rows = api_rows(
        api, table, **{f"{prefix}_since": f"{DAY}T00:00:00Z", f"{prefix}_until": "2026-01-04T00:00:00Z"}
    )
    newest = max(datetime.fromisoformat(r[cursor].replace("Z", "+00:00")) for r in rows)
    return len(rows), newest.timestamp()


def test_partition_load_records_uniform_metadata_and_prefixed_logs(make_platform, payments_api):
    platform = make_platform(partition_start="2026-01-01")
    with dg.instance_for_test() as instance:
        job = platform.defs.resolve_job_def("load_only")
        result = job.execute_in_process(instance=instance, partition_key=DAY, raise_on_error=False)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    mats = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    for table in CURSORS:
        count, newest = _window_truth(payments_api, table)
        metadata = mats[table]
        assert count > 0
        assert metadata[ROWS_READ].value == metadata[ROWS_LOADED].value == count, table
        assert metadata[ROW_COUNT].value == platform.count(table) == count
        assert metadata[ROWS_REJECTED].value == 0
        assert metadata[SOURCE_NEWEST_AT].value == pytest.approx(newest), table
        assert metadata[DURATION_S].value > 0
    prefix = f"[run={result.run_id[:8]} partition={DAY}]"
    loaded = [m for m in messages if "rows read" in m]
    assert len(loaded) == 4 and all(m.startswith(prefix) for m in loaded), loaded


def _events(instance, run_id: str, kind: str) -> list:
    return [
        e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type_value == kind
    ]


def test_transient_fault_beyond_the_http_retries_is_retried_by_dagster_and_succeeds(
    make_platform, payments_api
):
    # One HTTP attempt per request: a 503 fails the step; Dagster retries it after its backoff.
    platform = make_platform(retry=ONE_ATTEMPT, step_retry={"max_retries": 2, "delay_seconds": 1.0})
    payments_api.set_faults(FaultConfig(rate=1.0, kinds=("503",)))
    with dg.instance_for_test() as instance:
        result = _run_healing_after_first_retry(platform, payments_api, instance)
        retries = _events(instance, result.run_id, "STEP_UP_FOR_RETRY")
        restarts = _events(instance, result.run_id, "STEP_RESTARTED")
    assert result.success
    assert len(retries) == 1 and len(restarts) == 1
    assert "503" in retries[0].dagster_event.event_specific_data.error.to_string()
    assert platform.count("payments") == len(api_rows(payments_api, "payments"))


def _run_healing_after_first_retry(platform, api, instance) -> dg.ExecuteInProcessResult:
    """Runs `load_only`; the API recovers (no faults) once the step is up for its first retry."""
    job = platform.defs.resolve_job_def("load_only")
    done = threading.Event()

    def heal():
        while not done.is_set():
            runs = instance.get_runs()
            if runs and _events(instance, runs[0].run_id, "STEP_UP_FOR_RETRY"):
                api.set_faults(FaultConfig(rate=0.0))
                return
            done.wait(0.05)

    healer = threading.Thread(target=heal)
    healer.start()
    try:
        return job.execute_in_process(instance=instance, raise_on_error=False)
    finally:
        done.set()
        healer.join()


def test_http_metadata_is_per_asset_and_summed_over_the_step_retries(make_platform, payments_api):
    """Every request of the first attempt fails (503) until its 3 HTTP attempts run out, which fails the step;
    Dagster retries it and the API has recovered. Each asset's http_* metadata is what the simulator served at
    that asset's endpoint over both attempts, not the last attempt's, and not the run's total."""
    retry = {
        "max_attempts": 3,
        "backoff_seconds": 0.01,
        "max_retry_after_seconds": 0.01,
        "read_timeout_seconds": 5,
    }
    platform = make_platform(retry=retry, step_retry={"max_retries": 3, "delay_seconds": 1.0})
    payments_api.set_faults(FaultConfig(rate=1.0, kinds=("503",)))
    with dg.instance_for_test() as instance:
        result = _run_healing_after_first_retry(platform, payments_api, instance)
        retries = _events(instance, result.run_id, "STEP_UP_FOR_RETRY")
        recorded = [
            e.dagster_event.engine_event_data.metadata["dataplat/attempt_http_counts"].value
            for e in _events(instance, result.run_id, "ENGINE_EVENT")
            if "dataplat/attempt_http_counts" in e.dagster_event.engine_event_data.metadata
        ]
    assert result.success and len(retries) >= 1
    assert len(recorded) == len(retries)  # each failed attempt left its counts in the run's event log
    served = payments_api.stats["paths"]
    mats = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert set(mats) == {"payments", "refunds", "events", "payment_methods"}
    first_attempt = recorded[0]
    for table, metadata in mats.items():
        requests, http_retries = metadata["http_requests"].value, metadata["http_retries"].value
        failures = metadata["http_failures"].value
        assert requests == served[f"/{table}"], (table, requests, served)
        # The successful attempt read every page once; all else was a 503 of a failed attempt.
        pages = max(1, -(-platform.count(table) // 500))
        assert failures == ({"HTTP 503": requests - pages} if requests > pages else {}), (table, failures)
        assert metadata["step_attempts"].value == len(retries) + 1
        # The first attempt's requests are in the sum (the last attempt alone made exactly `pages`).
        assert requests == pages + sum(r[f"payments_api/{table}"]["requests"] for r in recorded)
        assert http_retries == sum(r[f"payments_api/{table}"]["retries"] for r in recorded)
    assert sum(c["requests"] for c in first_attempt.values()) >= 3  # at least one resource exhausted 3 tries
    assert sum(m["http_requests"].value for m in mats.values()) == payments_api.stats["total"]


def test_a_401_is_not_retried(make_platform, payments_api):
    platform = make_platform(token="not-the-token", step_retry={"max_retries": 3, "delay_seconds": 0.1})
    with dg.instance_for_test() as instance:
        result = platform.defs.resolve_job_def("load_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
        retries = _events(instance, result.run_id, "STEP_UP_FOR_RETRY")
    assert not result.success
    assert retries == []
    assert payments_api.stats["total"] == 1
    policy = platform.defs.resolve_assets_def(dg.AssetKey(["payments_api", "payments"])).op.retry_policy
    assert (policy.max_retries, policy.backoff) == (3, dg.Backoff.EXPONENTIAL)


def test_an_assets_endpoint_path_includes_the_base_urls_own_path():
    """A provider's API under `/v1`: the session sees `/v1/payments`, and rows and HTTP counts are looked up
    there (not at `/payments`, which would report 0 for every asset)."""
    from conftest import declared
    from dataplat_api_sources.declaration import ApiResource
    from dataplat_api_sources.load import _endpoint_path

    spec = ApiResource(**declared("payments")["resources"][0])
    assert _endpoint_path("https://api.example.com/v1/", spec) == "/v1/payments"
    assert _endpoint_path("http://127.0.0.1:8080", spec) == "/payments"
