"""The component as YAML declares it: validation, asset layout, faults, HTTP errors, schema contract, destinations."""

from types import SimpleNamespace

import dagster as dg
import dlt
import pytest
from conftest import api_rows, attributes, component_defs, declared
from dataplat_api_sources.declaration import RestApiConnection
from dataplat_api_sources.destination import make_pipeline, warehouse_destination
from dataplat_core.observability import error_chain
from dataplat_sandbox.payments_api import PaymentsApiServer
from dlt.common.exceptions import MissingDependencyException


class PaymentsApiWithNewField(PaymentsApiServer):
    """The simulator, but `/payments` rows gain a `risk_score` field once `add_field()` is called (test-only)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_field = False
        table = self.tables["/payments"]
        render = table.render

        def with_field(columns, idx):
            rows = render(columns, idx)
            if self.new_field:
                for row in rows:
                    row["risk_score"] = 0.25
            return rows

        table.render = with_field


# --- configuration ------------------------------------------------------------------------------------------


def _refused(attrs) -> str:
    with pytest.raises(Exception) as err:
        with component_defs(attrs):
            pass
    return "\n".join(str(cause) for cause in error_chain(err.value))


def test_merge_without_primary_key_is_rejected_when_the_yaml_loads():
    payments = {**declared()["resources"][0], "primary_key": []}
    assert "'merge' needs a primary_key" in _refused({**attributes(), "resources": [payments]})


def test_a_key_that_is_not_a_declared_column_is_rejected():
    payments = {**declared()["resources"][0], "primary_key": ["id"]}
    assert "resource 'payments': primary_key names unknown columns ['id']" in _refused(
        {**attributes(), "resources": [payments]}
    )


def test_assets_checks_pool_and_partitions_as_declared():
    with component_defs(attributes(partition_start="2026-01-01")) as (_, defs):
        (assets_def,) = defs.assets
        keys = {k.to_user_string() for k in assets_def.keys}
        assert keys == {f"payments_api/{r['name']}" for r in declared()["resources"]}
        assert assets_def.op.pool == "warehouse"
        assert isinstance(assets_def.partitions_def, dg.DailyPartitionsDefinition)
        checks = {(k.asset_key.path[-1], k.name) for c in defs.asset_checks for k in c.check_keys}
        assert {
            ("payments", "primary_key_unique"),
            ("events", "partition_row_count"),
            ("refunds", "freshness"),
        } <= checks
        assert ("payment_methods", "partition_row_count") not in checks  # a full snapshot has no window


def test_the_schema_contract_is_what_the_yaml_declares_whatever_the_environment(monkeypatch):
    """The component reads no environment: `evolve` (dlt's default) unless declared; prod's `freeze` is a
    value of the ingestion composition (`api_schema_contract`), not a switch inside the package."""
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    with component_defs(attributes()) as (component, _):
        assert component.load_plan().schema_contract == "evolve"
    with component_defs(attributes(schema_contract="freeze")) as (component, _):
        assert component.load_plan().schema_contract == "freeze"


# --- running ------------------------------------------------------------------------------------------------


def test_wrong_token_fails_the_run_at_once_with_endpoint_and_status(make_platform, payments_api):
    platform = make_platform(token="not-the-token")
    result = platform.run()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert "answered HTTP 401" in message and "/payments" in message or "/refunds" in message
    assert payments_api.stats["total"] == 1  # the first request failed; nothing was retried


def test_new_api_field_evolves_the_table_locally(make_platform, sandbox_config):
    with PaymentsApiWithNewField(sandbox_config) as api:
        platform = make_platform(api=api, schema_contract="evolve")
        assert platform.run().success
        api.new_field = True
        api.update_payments(10)
        assert platform.run().success
        rows = platform.query("select count(*) from payments_api.payments where risk_score = 0.25")
        assert rows == [(10,)]


def test_new_api_field_fails_a_frozen_schema_naming_the_column(make_platform, sandbox_config):
    with PaymentsApiWithNewField(sandbox_config) as api:
        platform = make_platform(api=api, schema_contract="freeze", partition_start="2026-01-01")
        assert platform.run("2026-01-03").success
        api.new_field = True
        result = platform.run("2026-01-04")  # a new partition: a new pipeline name, the contract still holds
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        description = failure.step_failure_data.user_failure_data.description
        assert "['risk_score']" in description and "'freeze'" in description
        columns = platform.query(
            "select column_name from information_schema.columns "
            "where table_schema = 'payments_api' and table_name = 'payments'"
        )
        assert ("risk_score",) not in columns


def test_through_the_platform_resource_factory(platform_env, payments_api):
    """The deployment's path: the warehouse from `build_resources()` (PLATFORM_ENV=local, DuckDB in tmp), the
    API's connection from its variables, as the deployment's RestApiConnectionComponent declares it."""
    from dataplat_core.resources import build_resources

    connection = RestApiConnection(
        base_url=dg.EnvVar("PAYMENTS_API_URL"), token=dg.EnvVar("PAYMENTS_API_TOKEN")
    )
    with component_defs(attributes()) as (_, defs):
        resources = {**build_resources(), "payments_api": connection}
        defs = dg.Definitions.merge(defs, dg.Definitions(resources=resources))
        dg.Definitions.validate_loadable(defs)
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)
        assert result.success
    import duckdb

    with duckdb.connect(platform_env["WAREHOUSE_DUCKDB_PATH"], read_only=True) as conn:
        assert conn.execute("select count(*) from payments_api.payments").fetchone()[0] == len(
            api_rows(payments_api, "payments")
        )


# --- destinations -------------------------------------------------------------------------------------------


def test_duckdb_destination_uses_the_warehouse_file(tmp_path):
    from dataplat_core.duckdb_warehouse import WarehouseDuckDB

    destination = warehouse_destination(WarehouseDuckDB(database=str(tmp_path / "w.duckdb")))
    assert destination.destination_type == "dlt.destinations.duckdb"
    config = destination.configuration(destination.spec()._bind_dataset_name("d"), accept_partial=True)
    assert config.credentials.database == str(tmp_path / "w.duckdb")


def test_a_load_into_the_duckdb_warehouse_runs_one_job_at_a_time(tmp_path, monkeypatch):
    """DuckDB 1.4.4's WAL replay can fail after a kill when one connection dropped a table while another's
    write still named its blocks (see `WarehouseDuckDB.dlt_destination`): dlt's jobs on the warehouse file run
    one after another. Measured on dlt's own copy jobs, three tables, each job held a moment."""
    import threading
    import time

    import dlt
    from dataplat_core.duckdb_warehouse import WarehouseDuckDB
    from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

    running, most, lock = [0], [0], threading.Lock()
    original = DuckDbCopyJob.run

    def run(self):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.2)
            return original(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(DuckDbCopyJob, "run", run)
    warehouse = WarehouseDuckDB(database=str(tmp_path / "w.duckdb"))
    pipeline = make_pipeline("seq", dataset="d", destination=warehouse_destination(warehouse),
                             pipelines_dir=tmp_path / "dlt", window=None)  # fmt: skip
    tables = [dlt.resource([{"id": i} for i in range(3)], name=f"t{n}") for n in range(3)]
    pipeline.run(tables, loader_file_format="parquet")
    assert most[0] == 1
    with warehouse.get_connection() as conn:
        assert [conn.execute(f"select count(*) from d.t{n}").fetchone()[0] for n in range(3)] == [3, 3, 3]


def test_prod_snowflake_destination_up_to_connector(tmp_path):
    """up_to_connector: what a Snowflake warehouse names (`WarehouseSnowflake.dlt_destination`, tested in core
    on fakesnow) maps onto dlt's Snowflake destination; connecting needs the connector (the `snowflake` extra),
    which the local venv does not carry - so the test stops exactly there. The warehouse is a stand-in."""
    credentials = {
        "host": "xy12345.eu-central-1", "username": "LOADER", "password": "s3cret", "database": "RAW",
        "warehouse": "LOAD_WH", "role": "LOADER_ROLE",
    }  # fmt: skip
    warehouse = SimpleNamespace(dlt_destination=lambda: ("snowflake", {"credentials": credentials}))
    destination = warehouse_destination(warehouse)
    assert destination.destination_type == "dlt.destinations.snowflake"
    config = destination.configuration(
        destination.spec()._bind_dataset_name("payments_api"), accept_partial=True
    )
    creds = config.credentials
    assert (creds.host, creds.username, creds.password, creds.database, creds.warehouse, creds.role) == (
        "xy12345.eu-central-1", "LOADER", "s3cret", "RAW", "LOAD_WH", "LOADER_ROLE",
    )  # fmt: skip
    pipeline = make_pipeline("payments_api", dataset="payments_api", destination=destination,
                             pipelines_dir=tmp_path, window=None)  # fmt: skip
    with pytest.raises(MissingDependencyException, match="snowflake"):
        pipeline.destination_client()
    assert dlt.__version__


def test_a_pipeline_sends_no_usage_events_and_writes_nothing_in_home(tmp_path):
    """dlt's anonymous telemetry is off for the platform's pipelines (a fresh process, so no earlier test's
    pipeline decides it): no tracker thread runs, and nothing is written under HOME."""
    import os
    import subprocess
    import sys

    from dataplat_api_sources import TELEMETRY_SWITCH

    home = tmp_path / "home"
    home.mkdir()
    code = (  # dlt imported first, as by another package of the code location
        "import threading, dlt\n"
        "from dataplat_api_sources.destination import make_pipeline\n"
        f"p = make_pipeline('t', dataset='d', destination=dlt.destinations.duckdb({str(tmp_path / 'w.duckdb')!r}),"
        f" pipelines_dir={str(tmp_path / 'p')!r}, window=None)\n"
        "p.run([{'a': 1}], table_name='x')\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != TELEMETRY_SWITCH} | {"HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MainThread']"
    assert list(home.iterdir()) == []
