"""The resources this package provides (`resources.py`, entry point `dataplat.resources`), against the real
sandbox PostgreSQL: the source connections log in as the read-only replicator, the source row-count check,
and a refused password named as such."""

import dagster as dg
import duckdb
import psycopg
import pytest
from dataplat_core.checks import checks_step
from dataplat_core.duckdb_warehouse import WarehouseDuckDB, copy_from_postgres
from dataplat_core.resources import build_resources
from dataplat_core.variables import provided
from dataplat_snowflake_ingestion.resources import SOURCE_CONNECTION, PostgresSource
from dataplat_snowflake_ingestion.sling_replication import source_row_count_check


@dg.asset(key=["raw", "t"])
def t():
    """Stands for a table loaded elsewhere; the check reads the warehouse, not this value."""


def test_the_package_provides_the_source_the_landing_area_and_sling():
    found = provided()
    assert {"source_postgres", "landing", "sling"} <= set(found)
    assert {found[k].package for k in ("source_postgres", "landing", "sling")} == {
        "dataplat-snowflake-ingestion"
    }
    assert found["sling"].needs == ("warehouse",)


def test_the_location_asks_for_every_source_variable_at_once(monkeypatch, tmp_path):
    from dataplat_core.environment import MissingEnvironmentVariables

    for name in ("SOURCE_PG_PORT", "SOURCE_PG_PASSWORD", "LANDING_URL", "PLATFORM_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with pytest.raises(MissingEnvironmentVariables) as info:
        build_resources()
    assert info.value.missing == ["LANDING_URL", "SOURCE_PG_PASSWORD", "SOURCE_PG_PORT"]


def test_an_environments_defaults_reach_the_source_and_sling(tmp_path):
    """A platform.yaml may default any source variable but the password, the port (an int field) included."""
    from dataplat_core.environment import EnvironmentSpec

    defaults = {
        "SOURCE_PG_HOST": "db.internal", "SOURCE_PG_PORT": "6543", "SOURCE_PG_DATABASE": "shop",
        "SOURCE_PG_USER": "replicator", "SOURCE_PG_SSLMODE": "require", "LANDING_URL": str(tmp_path / "landing"),
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
        "ARTIFACTS_URL": str(tmp_path / "artifacts"),
    }  # fmt: skip
    resources = build_resources(EnvironmentSpec("qa", "duckdb", defaults), {"SOURCE_PG_PASSWORD": "pw"})
    assert (resources["source_postgres"].host, resources["source_postgres"].port) == ("db.internal", 6543)
    (sling_source,) = [c for c in resources["sling"].connections if c.name == SOURCE_CONNECTION]
    assert (sling_source.port, sling_source.sslmode) == (6543, "require")
    assert resources["source_postgres"].password == dg.EnvVar("SOURCE_PG_PASSWORD")


def test_the_platforms_source_connections_log_in_as_the_replicator(platform_env, sandbox_postgres):
    resources = build_resources()
    (sling_source,) = [c for c in resources["sling"].connections if c.name == SOURCE_CONNECTION]
    assert sling_source.type == "postgres"
    # Sling's connection and the resource carry the same settings, resolved by the run worker.
    assert sling_source.user == resources["source_postgres"].user
    assert sling_source.password == dg.EnvVar("SOURCE_PG_PASSWORD")
    seen = {}

    @dg.asset(required_resource_keys={"source_postgres"})
    def probe(context):
        source = context.resources.source_postgres
        seen["configured"] = source.user
        with source.connect() as conn:
            seen["current_user"] = conn.execute("SELECT current_user").fetchone()[0]
            conn.rollback()
            conn.autocommit = True
            conn.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM shop.orders WHERE false")

    assert dg.materialize([probe], resources=resources).success
    assert seen == {"configured": "replicator", "current_user": "replicator"}
    assert sandbox_postgres.admin_user != "replicator" and platform_env["SOURCE_PG_USER"] == "replicator"
    assert platform_env["SOURCE_PG_PASSWORD"] != sandbox_postgres.admin_password


@pytest.fixture
def source_and_warehouse(sandbox_postgres, tmp_path):
    """shop.products in the sandbox's PostgreSQL, copied into a DuckDB warehouse with one row fewer."""
    from dataplat_core.binaries import duckdb_connection_config

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
        copy_from_postgres(conn, sandbox_postgres.dsn("readonly"), ["products"], target_schema="raw")
        conn.execute("alter table raw.products rename to t")
    source = PostgresSource(
        host=sandbox_postgres.host,
        port=sandbox_postgres.port,
        database="shop",
        user=sandbox_postgres.readonly_user,
        password=sandbox_postgres.readonly_password,
    )
    return source, path


def _compare(source, path, tolerance):
    check = source_row_count_check(dg.AssetKey(["raw", "t"]), "raw.t", "shop.products", tolerance=tolerance)
    resources = {"warehouse": WarehouseDuckDB(database=str(path)), "source_postgres": source}
    result = dg.materialize([t, *checks_step("t_checks", [check])], resources=resources, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_row_count_against_the_real_source(source_and_warehouse):
    source, path = source_and_warehouse
    evaluation = _compare(source, path, tolerance=0.0)
    assert evaluation.passed
    assert evaluation.metadata["source_rows"].value == evaluation.metadata["warehouse_rows"].value > 0


def test_row_count_beyond_the_tolerance_fails(source_and_warehouse):
    source, path = source_and_warehouse
    with duckdb.connect(str(path)) as conn:
        conn.execute("delete from raw.t where product_id in (select product_id from raw.t limit 5)")
    assert not _compare(source, path, tolerance=0.0).passed
    assert _compare(source, path, tolerance=0.5).passed  # 5 of >= 40 products: within 50%


def test_a_wrong_source_password_fails_naming_the_user_and_the_variables_and_is_not_retried(
    source_and_warehouse,
):
    from dataplat_core.observability import is_transient
    from dataplat_snowflake_ingestion.resources import SourceCredentialsRefused

    source, _ = source_and_warehouse
    wrong = source.model_copy(update={"password": "not-the-password"})
    with pytest.raises(SourceCredentialsRefused) as info:
        wrong.row_count("shop.products")
    message = str(info.value)
    assert message.startswith(
        f"source PostgreSQL at {source.address} refused the credentials of user {source.user}"
    )
    assert "SOURCE_PG_USER and SOURCE_PG_PASSWORD" in message and "not-the-password" not in message
    assert not is_transient(info.value)  # a retry would be refused the same way
