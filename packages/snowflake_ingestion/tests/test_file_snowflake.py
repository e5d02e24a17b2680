"""The Snowflake strategy up to the connector boundary: the exact statements sent to a fake cursor (the only
mock in this package's tests: there is no Snowflake here). The file itself is a real sandbox file."""

from contextlib import contextmanager
from datetime import date

import pytest
from dataplat_sandbox.landing import write_landing
from dataplat_snowflake_ingestion.files.component import strategy_for
from dataplat_snowflake_ingestion.files.model import FileSpec
from dataplat_snowflake_ingestion.files.schema import DriftPolicy, SchemaDriftError, validate_columns
from dataplat_snowflake_ingestion.files.snowflake import SnowflakeFileLoader
from files_support import COLUMNS, SETTLED

COPY_ID = "01b2c3d4-0000-1111-0000-000000000042"
DECLARED = (
    '"order_id", "line_no", "order_ts", "customer_id", "product_id", "quantity", "unit_price", "amount"'
)


class FakeCursor:
    """Records statements; answers the column lookup, COPY and the audit queries (`null_keys`, `duplicates`,
    `elsewhere` rows of the staged delivery, which a test may set)."""

    def __init__(self, table_columns, parsed, loaded, *, null_keys=0, duplicates=0, elsewhere=(0, None)):
        self.statements: list[tuple[str, object]] = []
        self.table_columns, self.parsed, self.loaded = table_columns, parsed, loaded
        self.audit_rows = {
            "SELECT COUNT(*), COUNT_IF(": [(loaded, null_keys, 0)],
            "SELECT COUNT(*) FROM (SELECT": [(duplicates,)],
            "SELECT COUNT(*), LISTAGG(": [elsewhere],
        }
        self.sfqid, self._rows = None, []

    def execute(self, sql, params=None):
        self.statements.append((sql, params))
        self.sfqid = f"query-{len(self.statements)}"
        self._rows = []
        if sql.startswith("SELECT column_name FROM information_schema.columns"):
            self._rows = [(c,) for c in self.table_columns]
        elif sql.startswith("COPY INTO"):
            self.sfqid = COPY_ID
            self._rows = [
                ("2026-01-02.csv.gz", "PARTIALLY_LOADED", self.parsed, self.loaded, self.parsed, 13)
            ]
        else:
            self._rows = next(
                (rows for prefix, rows in self.audit_rows.items() if sql.startswith(prefix)), []
            )
        return self

    def fetchall(self):
        return self._rows

    def close(self):
        pass


class FakeConnection:
    def __init__(self, cursor):
        self._cursor = cursor

    def cursor(self):
        return self._cursor


def _loader(cursor, policy=DriftPolicy.FAIL):
    spec = FileSpec(
        "raw_files.sales", validate_columns(COLUMNS), ("order_id", "line_no"), policy, completeness=SETTLED
    )

    @contextmanager
    def connect():
        yield FakeConnection(cursor)

    return SnowflakeFileLoader(spec, connect)


def test_mock_snowflake_load_up_to_connector_issues_stage_copy_audits_and_one_transaction(landing_folder):
    """mock / up_to_connector: PUT, COPY INTO ... ON_ERROR=CONTINUE, the audit queries on the staging table,
    then BEGIN/DELETE/INSERT/COMMIT."""
    path = landing_folder / "sales" / "2026-01-02.csv"
    cursor = FakeCursor([*COLUMNS, "_file_date", "_loaded_at"], parsed=256, loaded=250)
    result = _loader(cursor).load("2026-01-02", path)
    staging = '"raw_files"."sales__load_20260102"'
    stage = '"raw_files"."sales_stage"'
    expected = [
        'CREATE SCHEMA IF NOT EXISTS "raw_files"',
        'CREATE TABLE IF NOT EXISTS "raw_files"."sales" ("order_id" NUMBER(38,0), "line_no" NUMBER(38,0), '
        '"order_ts" TIMESTAMP_NTZ, "customer_id" NUMBER(38,0), "product_id" NUMBER(38,0), "quantity" NUMBER(38,0), '
        '"unit_price" NUMBER(12,2), "amount" NUMBER(12,2), "_file_date" DATE NOT NULL, "_loaded_at" TIMESTAMP_NTZ)',
        'CREATE TABLE IF NOT EXISTS "raw_files"."sales_rejects" ("partition_date" DATE, "file" VARCHAR, '
        '"line" NUMBER(38,0), "column_name" VARCHAR, "error_type" VARCHAR, "reason" VARCHAR, "raw_line" VARCHAR, '
        '"loaded_at" TIMESTAMP_NTZ)',
        'CREATE TABLE IF NOT EXISTS "raw_files"."sales_quarantine" ("partition_date" DATE, "file" VARCHAR, '
        '"line" NUMBER(38,0), "column_name" VARCHAR, "error_type" VARCHAR, "reason" VARCHAR, "raw_line" VARCHAR, '
        '"loaded_at" TIMESTAMP_NTZ)',
        f"CREATE STAGE IF NOT EXISTS {stage}",
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %(schema)s AND "
        "table_name = %(table)s ORDER BY ordinal_position",
        f"PUT 'file://{path.resolve()}' @{stage}/2026-01-02 AUTO_COMPRESS=TRUE OVERWRITE=TRUE",
        f'CREATE OR REPLACE TEMPORARY TABLE {staging} ("order_id" NUMBER(38,0), "line_no" NUMBER(38,0), '
        '"order_ts" TIMESTAMP_NTZ, "customer_id" NUMBER(38,0), "product_id" NUMBER(38,0), '
        '"quantity" NUMBER(38,0), "unit_price" NUMBER(12,2), "amount" NUMBER(12,2))',
        f"COPY INTO {staging} ({DECLARED}) FROM @{stage}/2026-01-02/ FILE_FORMAT=(TYPE=CSV FIELD_DELIMITER=',' "
        "SKIP_HEADER=1 FIELD_OPTIONALLY_ENCLOSED_BY='\"' EMPTY_FIELD_AS_NULL=TRUE "
        "ERROR_ON_COLUMN_COUNT_MISMATCH=TRUE TIMESTAMP_FORMAT=AUTO) ON_ERROR=CONTINUE PURGE=TRUE",
        f'SELECT COUNT(*), COUNT_IF("order_id" IS NULL OR "line_no" IS NULL), 0 FROM {staging}',
        f'SELECT COUNT(*) FROM (SELECT "order_id", "line_no" FROM {staging} GROUP BY "order_id", "line_no" '
        "HAVING COUNT(*) > 1)",
        "SELECT COUNT(*), LISTAGG(DISTINCT d, ',') WITHIN GROUP (ORDER BY d) FROM (SELECT s.\"order_id\", "
        f's."line_no", MIN(t."_file_date")::VARCHAR AS d FROM {staging} s JOIN "raw_files"."sales" t ON '
        's."order_id" = t."order_id" AND s."line_no" = t."line_no" AND t."_file_date" <> %(partition)s::DATE '
        'GROUP BY s."order_id", s."line_no")',
        "BEGIN",
        'DELETE FROM "raw_files"."sales" WHERE "_file_date" = %(partition)s',
        'DELETE FROM "raw_files"."sales_rejects" WHERE "partition_date" = %(partition)s',
        f'INSERT INTO "raw_files"."sales" ({DECLARED}, "_file_date", "_loaded_at") '
        f"SELECT {DECLARED}, %(partition)s, %(loaded_at)s FROM {staging}",
        'INSERT INTO "raw_files"."sales_rejects" ("partition_date", "file", "line", "column_name", "error_type", '
        '"reason", "raw_line", "loaded_at") SELECT %(partition)s, %(file)s, "LINE", "COLUMN_NAME", "CATEGORY", '
        f'"ERROR", "REJECTED_RECORD", %(loaded_at)s FROM TABLE(VALIDATE({staging}, JOB_ID => \'{COPY_ID}\'))',
        'DELETE FROM "raw_files"."sales_quarantine" WHERE "partition_date" = %(partition)s',
        "COMMIT",
    ]
    assert [sql for sql, _ in cursor.statements] == expected
    params = dict(cursor.statements[-3][1])
    assert params["partition"] == "2026-01-02" and params["file"] == str(path)
    assert (result.rows_loaded, result.rows_rejected, result.data_lines) == (250, 6, 256)
    assert result.published


@pytest.mark.parametrize(
    ("cursor_figures", "refused_by"),
    [
        ({"parsed": 256, "loaded": 243}, "reject_rate: 13 of 256 (5.08%) data lines rejected"),
        ({"parsed": 256, "loaded": 256, "duplicates": 2}, "primary_key_unique: 2 key(s) repeated"),
        (
            {"parsed": 256, "loaded": 256, "elsewhere": (3, "2026-01-01")},
            "3 key(s) already in partition(s) 2026-01-01",
        ),
        ({"parsed": 256, "loaded": 256, "null_keys": 1}, "keys_not_null: 1 row(s) with a NULL"),
    ],
)
def test_mock_snowflake_up_to_connector_refused_delivery_goes_to_quarantine_and_publishes_nothing(
    landing_folder, cursor_figures, refused_by
):
    """mock / up_to_connector: a failed blocking audit sends the delivery to the quarantine table in one
    transaction and never touches the published table or its rejects."""
    path = landing_folder / "sales" / "2026-01-02.csv"
    cursor = FakeCursor([*COLUMNS, "_file_date", "_loaded_at"], **cursor_figures)
    result = _loader(cursor).load("2026-01-02", path)
    assert not result.published and result.rows_loaded == 0
    sqls = [sql for sql, _ in cursor.statements]
    transaction = sqls[sqls.index("BEGIN") :]
    assert (
        transaction[1] == 'DELETE FROM "raw_files"."sales_quarantine" WHERE "partition_date" = %(partition)s'
    )
    assert transaction[-1] == "COMMIT"
    assert all('"raw_files"."sales_quarantine"' in s for s in transaction[1:-1]), transaction
    refusal = next(p for s, p in cursor.statements if "'REFUSED'" in s)["refusal"]
    assert refused_by in refusal, refusal


def test_mock_snowflake_up_to_connector_evolve_adds_columns_before_the_transaction(landing_folder):
    """mock / up_to_connector: Snowflake DDL commits implicitly, so ALTER TABLE runs before BEGIN."""
    write_landing(
        landing_folder, _config(), dates=[date(2026, 1, 2)], defects={date(2026, 1, 2): "extra_column"}
    )
    path = landing_folder / "sales" / "2026-01-02.csv"
    cursor = FakeCursor([*COLUMNS, "_file_date", "_loaded_at"], parsed=256, loaded=256)
    result = _loader(cursor, DriftPolicy.EVOLVE).load("2026-01-02", path)
    sqls = [sql for sql, _ in cursor.statements]
    alter = sqls.index('ALTER TABLE "raw_files"."sales" ADD COLUMN "coupon_code" VARCHAR')
    assert alter < sqls.index("BEGIN")
    assert '"amount", "coupon_code")' in next(s for s in sqls if s.startswith("COPY INTO"))
    assert result.added_columns == ("coupon_code",) and result.counts_match


def test_mock_snowflake_up_to_connector_refused_drift_sends_no_load_statement(landing_folder):
    """mock / up_to_connector: a refused file never reaches PUT, COPY or the transaction."""
    write_landing(
        landing_folder, _config(), dates=[date(2026, 1, 2)], defects={date(2026, 1, 2): "missing_column"}
    )
    cursor = FakeCursor([*COLUMNS], parsed=0, loaded=0)
    with pytest.raises(SchemaDriftError, match="amount"):
        _loader(cursor).load("2026-01-02", landing_folder / "sales" / "2026-01-02.csv")
    assert not any(sql.startswith(("PUT", "COPY", "BEGIN", "DELETE")) for sql, _ in cursor.statements)


def test_strategy_is_chosen_by_the_warehouses_dialect(tmp_path):
    from dataplat_core.duckdb_warehouse import WarehouseDuckDB

    spec = FileSpec(
        "raw_files.sales", validate_columns(COLUMNS), ("order_id", "line_no"), completeness=SETTLED
    )
    assert strategy_for(WarehouseDuckDB(database=str(tmp_path / "w.duckdb")), spec).kind == "duckdb"
    # Stand-in for WarehouseSnowflake (this venv carries no Snowflake connector): only its dialect is read.
    snowflake = type("Snowflake", (), {"dialect": "snowflake", "get_connection": lambda self: None})
    assert strategy_for(snowflake(), spec).kind == "snowflake"
    with pytest.raises(TypeError, match="must be a dataplat_core Warehouse"):
        strategy_for(object(), spec)


def _config():
    from dataplat_sandbox.config import SandboxConfig

    return SandboxConfig(seed=7, orders=2_000, days=14)
