"""The `Warehouse` interface, the same tests on both implementations: a real DuckDB file, and Snowflake's
connector emulated by fakesnow (a stand-in: no Snowflake account runs here; fakesnow runs the connector's API and
Snowflake's SQL on DuckDB). What fakesnow cannot show, Sling and dlt writing to an account, is left to one."""

import dagster as dg
import pandas as pd
import pytest
from dataplat_core.artifacts import ArtifactStore, write_text
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.warehouse import MISSING_CATEGORY, fetch_one, table_exists


@pytest.fixture
def duckdb_warehouse(tmp_path):
    return WarehouseDuckDB(database=str(tmp_path / "w.duckdb"))


@pytest.fixture
def fakesnow_warehouse():
    """Stand-in for a Snowflake account: `WarehouseSnowflake` on fakesnow."""
    import fakesnow
    from dataplat_core.snowflake_warehouse import WarehouseSnowflake

    with fakesnow.patch():
        yield WarehouseSnowflake(
            account="fake", user="tester", password="fake", database="DB", schema="PUBLIC", warehouse="fake"
        )


@pytest.fixture(params=["duckdb", "fakesnow"])
def warehouse(request):
    return request.getfixturevalue(f"{request.param}_warehouse")


def test_statements_and_queries_run_in_the_warehouses_dialect(warehouse):
    rows = warehouse.execute(
        ['create schema if not exists "raw"', 'create table "raw"."t" ("id" int, "kind" varchar)']
        + ["insert into \"raw\".\"t\" values (1, 'a'), (2, 'b'), (3, null)"]
        + ['select count(*) from "raw"."t"']
    )
    assert rows == [(3,)]
    columns, rows = warehouse.query('select "id" as ID, "kind" from "raw"."t" order by "id"')
    assert columns == ["id", "kind"] and rows == [(1, "a"), (2, "b"), (3, None)]
    assert warehouse.fetch_all('select "kind" from "raw"."t" where "id" = %s' if warehouse.dialect == "snowflake"
                               else 'select "kind" from "raw"."t" where "id" = ?', [2]) == [("b",)]  # fmt: skip
    assert table_exists(warehouse, "raw.t") and not table_exists(warehouse, "raw.absent")
    assert fetch_one(warehouse, 'select max("id") from "raw"."t"') == (3,)


def test_a_session_is_one_connection(warehouse, monkeypatch):
    warehouse.execute(['create schema if not exists "raw"', 'create table "raw"."t" ("id" int)'])
    opened = []
    original = type(warehouse).get_connection

    def counting(self):
        opened.append(1)
        return original(self)

    monkeypatch.setattr(type(warehouse), "get_connection", counting)
    with warehouse.session() as session:
        session.execute(['insert into "raw"."t" values (1)'])
        assert fetch_one(session, 'select count(*) from "raw"."t"') == (1,)
        assert table_exists(session, "raw.t")
        with session.session() as inner:
            assert inner is session
    assert len(opened) == 1


def test_an_asset_is_given_the_warehouse_interface_itself(warehouse):
    """dagster-snowflake would hand an op a legacy connection wrapper instead of the resource."""

    @dg.asset(required_resource_keys={"warehouse"})
    def counted(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        given = context.resources.warehouse
        return dg.MaterializeResult(
            metadata={"type": type(given).__name__, "one": fetch_one(given, "select 1")[0]}
        )

    result = dg.materialize([counted], resources={"warehouse": warehouse})
    metadata = result.asset_materializations_for_node("counted")[0].metadata
    assert metadata["type"].value == type(warehouse).__name__ and metadata["one"].value == 1


def test_frames_go_in_and_come_out_with_their_types(warehouse):
    # Integers and text only: fakesnow 0.11's write_pandas creates NUMBER and VARCHAR columns, nothing else.
    frame = pd.DataFrame({"id": [3, 1, 2], "kind": ["b", None, "a"], "n": [10, 20, 30]})
    frame["kind"] = frame["kind"].astype(object)
    warehouse.write_frame("ml.scores", frame)
    if warehouse.dialect == "duckdb":  # fakesnow 0.11 ignores write_pandas' overwrite, Snowflake honours it
        warehouse.write_frame("ml.scores", frame)  # replaced, not appended
    out = warehouse.read_frame("ml.scores", ["id", "kind", "n"], "id", categorical=["kind"], float32=["n"])
    assert list(out.columns) == ["id", "kind", "n"]
    assert out["id"].tolist() == [1, 2, 3]
    assert out["kind"].dtype == "category" and out["kind"].tolist() == [MISSING_CATEGORY, "a", "b"]
    assert out["n"].dtype == "float32" and out["n"].tolist() == [20.0, 30.0, 10.0]


def test_a_frame_refuses_a_column_from_config_that_is_no_identifier(warehouse):
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        warehouse.read_frame("ml.scores", ["id; drop table x"], "id")


def test_the_duckdb_warehouse_names_its_file_to_sling_and_dlt(duckdb_warehouse):
    connection = duckdb_warehouse.sling_connection("WAREHOUSE")
    assert (connection.name, connection.type, connection.instance) == (
        "WAREHOUSE", "duckdb", duckdb_warehouse.database
    )  # fmt: skip
    assert duckdb_warehouse.dlt_destination() == (
        "duckdb", {"credentials": duckdb_warehouse.database, "loader_parallelism_strategy": "sequential"}
    )  # fmt: skip


def test_the_snowflake_warehouse_gives_sling_its_variables_and_dlt_its_credentials(fakesnow_warehouse):
    from dataplat_core.environment import SNOWFLAKE_FIELDS
    from dataplat_core.snowflake_warehouse import WarehouseSnowflake

    connection = fakesnow_warehouse.sling_connection("WAREHOUSE")
    assert connection.type == "snowflake"
    assert connection.password == dg.EnvVar("SNOWFLAKE_PASSWORD")  # a reference, never the value
    from_env = WarehouseSnowflake.from_environment()
    assert from_env.password == dg.EnvVar(SNOWFLAKE_FIELDS["password"])
    kind, kwargs = fakesnow_warehouse.dlt_destination()
    assert kind == "snowflake"
    assert kwargs["credentials"] == {
        "host": "fake", "username": "tester", "password": "fake", "database": "DB", "warehouse": "fake"
    }  # fmt: skip


def test_artifacts_have_a_place_per_kind_and_are_written_whole(tmp_path):
    store = ArtifactStore(url=str(tmp_path / "a"))
    assert store.location("reports") == str(tmp_path / "a" / "reports")
    assert ArtifactStore(url="s3://bucket/p/").location("models") == "s3://bucket/p/models"
    with pytest.raises(ValueError, match="plain lower-case name"):
        store.location("../x")
    target = f"{store.location('reports')}/r.html"
    assert write_text(target, "one") == target
    write_text(target, "two")
    assert (tmp_path / "a" / "reports" / "r.html").read_text() == "two"
    assert [p.name for p in (tmp_path / "a" / "reports").iterdir()] == ["r.html"]  # no temporary file left
