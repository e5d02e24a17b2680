"""The core's observability helpers on their own: metadata keys, transient vs permanent errors."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.observability import (
    LOAD_METADATA_KEYS,
    fail_fast_unless_transient,
    is_transient,
    load_metadata,
    table_metadata,
    transient_retry_policy,
)


def test_load_metadata_has_every_key_and_a_utc_timestamp():
    metadata = load_metadata(
        rows_read=10,
        rows_loaded=8,
        rows_rejected=2,
        source_newest_at=datetime(2026, 1, 2, 3, 4, 5),
        duration_s=1.23456,
    )
    assert set(metadata) == set(LOAD_METADATA_KEYS)
    assert metadata["dataplat/rows_loaded"].value == 8
    assert "dagster/row_count" not in metadata  # the table's rows, from table_metadata, not the rows moved
    assert (
        metadata["dataplat/source_newest_at"].value == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    )
    assert metadata["dataplat/duration_s"].value == 1.235
    assert load_metadata(rows_read=0, rows_loaded=0)["dataplat/source_newest_at"] == dg.MetadataValue.null()
    with pytest.raises(ValueError, match="rows_rejected"):
        load_metadata(rows_read=1, rows_loaded=1, rows_rejected=-1)


def test_table_metadata_is_the_whole_table_and_its_columns(tmp_path):
    """A load that moved 1 row into a 3-row table: Dagster's row count is 3, the columns are the table's."""
    warehouse = WarehouseDuckDB(database=str(tmp_path / "w.duckdb"))
    with warehouse.get_connection() as conn:
        conn.execute("create schema raw; create table raw.t (id bigint, name varchar, seen timestamp)")
        conn.execute("insert into raw.t values (1, 'a', now()), (2, 'b', now()), (3, 'c', now())")
        conn.execute("create schema other; create table other.t (x int)")  # same name, other schema
    metadata = table_metadata(warehouse, "raw.t")
    assert metadata["dagster/row_count"].value == 3
    schema = metadata["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "bigint"),
        ("name", "varchar"),
        ("seen", "timestamp"),
    ]
    assert table_metadata(warehouse, "RAW.T")["dagster/row_count"].value == 3  # Snowflake's upper-case names


class _Http(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.status = status


# Sling 1.4.11 under heavy load (a loaded CI run): it misread its DuckDB CLI's list of schemas, as its message says.
SLING_MISREAD_SCHEMAS = (
    "Sling command failed:\nfatal:\n~ Failed to execute SQL\n"
    'Catalog Error: Schema with name "main" already exists!\nFor query => create schema "main"'
)

# ... and misread the columns of the temporary table it had just created (the same kind of run).
SLING_MISREAD_COLUMNS = (
    "Sling command failed:\nERR no columns found for: select column_name, data_type, coalesce(numeric_precision, "
    "character_maximum_length) as precision, numeric_scale as scale\nfrom information_schema.columns\n"
    "where table_schema = 'main'\nand table_name = 'customers_sling_duckdb_tmp'\norder by ordinal_position\n"
    "execution failed\ncolumn names mismatch: source field '' is missing in target table"
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_Http(503), True),
        (_Http(429), True),
        (_Http(401), False),
        (ConnectionRefusedError("refused"), True),
        (RuntimeError('IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held'), True),
        (RuntimeError("GET /payments still failing after 1 attempts; last error: HTTP 503"), True),
        (Exception("Sling command failed:\nfatal:\n~ Failed to write to stdout pipe"), True),
        (Exception(SLING_MISREAD_SCHEMAS), True),
        (Exception(SLING_MISREAD_COLUMNS), True),
        (
            Exception("no columns found for: select column_name from information_schema.columns where x"),
            False,
        ),  # a real table without columns, not Sling's just-created temporary table
        (
            RuntimeError('Catalog Error: Schema with name "raw_shop" already exists!'),
            False,
        ),  # not that misread
        (RuntimeError("Catalog Error: Table with name no_such_table does not exist"), False),
        (ValueError("file is empty"), False),
    ],
)
def test_is_transient(error, transient):
    assert is_transient(error) is transient


def test_an_error_that_says_whether_it_is_transient_is_believed():
    class Unreachable(RuntimeError):
        transient = False

    try:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as cause:
            raise Unreachable("GET /x: connection to 127.0.0.1:9 refused (3 attempts)") from cause
    except Unreachable as error:
        assert is_transient(error) is False  # its cause alone would count as transient
        assert is_transient(error.__cause__) is True


def test_fail_fast_turns_permanent_errors_into_unretried_failures():
    with pytest.raises(dg.Failure) as info, fail_fast_unless_transient():
        raise ValueError("bad input")
    assert info.value.allow_retries is False and "bad input" in info.value.description
    with pytest.raises(ConnectionResetError), fail_fast_unless_transient():
        raise ConnectionResetError("reset")
    policy = transient_retry_policy()
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (
        3, 2.0, dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS,
    )  # fmt: skip
