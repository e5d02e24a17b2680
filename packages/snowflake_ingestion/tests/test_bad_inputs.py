"""Bad landing files, one test each: the row is quarantined to the rejects table and counted, or the file fails
naming itself (and the line) and the partition keeps what was loaded before. The catalogue is docs/bad-inputs.md.

The loader runs for real (DuckDB's CSV reader, a DuckDB file in tmp_path); the key checks run through a real
Dagster run of the component on the sandbox's landing files. The sandbox's named defects (bad_types,
missing_column, ...) are covered by test_file_ingestion.py.
"""

import contextlib
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from dataplat_core.testing import checks_by_name
from dataplat_snowflake_ingestion.files.audit import AuditLimits
from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
from dataplat_snowflake_ingestion.files.model import FileSpec
from dataplat_snowflake_ingestion.files.schema import FileProblem, validate_columns
from files_support import (
    SETTLED,
    TABLE,
    failure_message,
    file_defs,
    published,
    run_range,
    warehouse,
)

HEADER = b"id,name,amount\n"
GOOD = HEADER + b"1,a,1.00\n2,b,2.00\n3,c,3.00\n"


@pytest.fixture
def load(tmp_path):
    """`load(payload, day)` -> LoadResult, after writing `payload` as the day's file; `rows(day)`, `rejects(day)`."""
    db = tmp_path / "w.duckdb"
    spec = FileSpec(
        "raw.t",
        validate_columns({"id": "BIGINT", "name": "VARCHAR", "amount": "DECIMAL(12,2)"}),
        ("id",),
        completeness=SETTLED,
        # One bad row in a three-row file is a third of it: these tests look at what happens to each row,
        # so no rate refuses them here (the reject-rate refusal has its own tests).
        limits=AuditLimits(reject_warn=1.0, reject_fail=1.0),
    )
    loader = DuckDBFileLoader(spec, lambda: contextlib.closing(duckdb.connect(str(db))))

    def run(payload: bytes, day: str = "2026-01-02"):
        path = tmp_path / f"{day}.csv"
        path.write_bytes(payload)
        return loader.load(day, path)

    def query(sql: str, day: str):
        with duckdb.connect(str(db), read_only=True) as conn:
            return conn.execute(sql, [day]).fetchall()

    run.rows = lambda day="2026-01-02": query(
        "select id, name, amount from raw.t where _file_date = ? order by id", day
    )
    run.rejects = lambda day="2026-01-02": query(
        "select line, column_name, error_type from raw.t_rejects where partition_date = ? order by line", day
    )
    return run


def test_invalid_utf8_bytes_in_a_row_quarantine_that_row(load):
    result = load(HEADER + b"1,caf\xe9,1.00\n2,b,2.00\n")  # Latin-1 'é' in a UTF-8 file
    assert (result.rows_loaded, result.rows_rejected, result.counts_match) == (1, 1, True)
    assert load.rows() == [(2, "b", Decimal("2.00"))]
    assert load.rejects() == [(2, "name", "INVALID ENCODING")]


def test_latin1_header_fails_the_file_naming_it(load):
    with pytest.raises(FileProblem, match=r"2026-01-02\.csv: not a UTF-8 CSV text file"):
        load(b"id,n\xe4me,amount\n1,a,1.00\n")


def test_utf8_bom_is_not_part_of_the_first_column_name(load):
    result = load(b"\xef\xbb\xbf" + GOOD)
    assert not result.drift and result.rows_loaded == 3 and result.rows_rejected == 0
    assert [r[0] for r in load.rows()] == [1, 2, 3]


def test_crlf_line_endings_load_the_same_values(load):
    result = load(GOOD.replace(b"\n", b"\r\n"))
    assert (result.rows_loaded, result.rows_rejected, result.counts_match) == (3, 0, True)
    assert load.rows()[2] == (3, "c", Decimal("3.00"))  # no '\r' left on the last column


def test_quoted_newlines_and_quotes_load_as_one_value_and_the_counts_match(load):
    result = load(HEADER + b'1,"two\nlines",1.00\n2,"say ""hi""",2.00\n3,c,3.00\n')
    assert result.data_lines == 3 and result.counts_match  # 4 newlines, 3 records
    assert load.rows()[:2] == [(1, "two\nlines", Decimal("1.00")), (2, 'say "hi"', Decimal("2.00"))]


def test_blank_lines_are_not_records(load):
    result = load(HEADER + b"1,a,1.00\n\n2,b,2.00\n\n\n3,c,3.00\n\n")
    assert (result.data_lines, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    assert result.counts_match


def test_mixed_line_endings_fail_the_file_naming_it_and_keep_the_partition(load):
    load(GOOD)
    with pytest.raises(
        FileProblem, match=r"2026-01-02\.csv: the CSV reader cannot parse the file .*mixed line"
    ):
        load(HEADER + b"1,a,1.00\n2,b,2.00\r\n3,c,3.00\n")
    assert [r[0] for r in load.rows()] == [1, 2, 3]


def test_ragged_rows_are_quarantined_and_counted(load):
    result = load(HEADER + b"1,a\n2,b,2.00,extra\n3,c,3.00\n")
    assert (result.rows_loaded, result.rows_rejected, result.counts_match) == (1, 2, True)
    assert [(line, kind) for line, _, kind in load.rejects()] == [
        (2, "MISSING COLUMNS"),
        (3, "TOO MANY COLUMNS"),
    ]


def test_empty_extra_trailing_fields_are_quarantined_as_too_many_columns(load):
    """One rule for `1,a,1.00,,`: more fields than the header is TOO MANY COLUMNS, empty or not (DuckDB's reader
    would drop empty ones silently; Snowflake's ERROR_ON_COLUMN_COUNT_MISMATCH rejects them too)."""
    result = load(HEADER + b"1,a,1.00,,\n2,b,2.00\n3,c,\n4,d,4.00,x\n")
    assert (result.rows_loaded, result.rows_rejected, result.counts_match) == (2, 2, True)
    assert [r[0] for r in load.rows()] == [2, 3]  # an empty last declared field is NULL, not extra
    assert [(line, kind) for line, _, kind in load.rejects()] == [
        (2, "TOO MANY COLUMNS"),
        (5, "TOO MANY COLUMNS"),
    ]


def test_a_10_mb_field_is_quarantined_and_the_other_rows_load(load):
    result = load(HEADER + b"1," + b"x" * 10_000_000 + b",1.00\n2,b,2.00\n")
    assert (result.rows_loaded, result.rows_rejected, result.counts_match) == (1, 1, True)
    assert load.rejects() == [(2, None, "LINE SIZE OVER MAXIMUM")]


def test_a_number_too_large_for_its_column_is_quarantined(load):
    rows = b"".join(b"%d,r,1.00\n" % i for i in range(1, 10))
    result = load(HEADER + b"99999999999999999999999,a,1.00\n" + rows)
    assert (result.rows_loaded, result.rows_rejected) == (9, 1)
    assert load.rejects() == [(2, "id", "CAST")]


def test_an_unclosed_quote_fails_the_file_naming_the_line_and_keeps_the_partition(load):
    load(GOOD)
    with pytest.raises(
        FileProblem, match=r"2026-01-02\.csv: the quoted field .* starting on line 3 is never closed"
    ):
        load(HEADER + b'1,a,1.00\n2,"b,2.00\n3,c,3.00\n')
    assert [r[0] for r in load.rows()] == [1, 2, 3]  # the previous load of the day is untouched


def test_null_and_duplicate_keys_refuse_the_delivery_and_keep_the_published_day(platform_env, landing_folder):
    """A key-less row, a key repeated within the file and a key already published in another partition each
    refuse the re-delivered day: the published table stays exactly as it was, the delivery is quarantined with
    the reason, and the blocking key checks report the figures the loader decided on."""
    day1, day2 = landing_folder / "sales" / "2026-01-01.csv", landing_folder / "sales" / "2026-01-02.csv"
    with file_defs() as defs, dg.instance_for_test() as instance:
        assert run_range(defs, "2026-01-01", "2026-01-02", instance).success
        before = published(platform_env)
        lines = day2.read_text().splitlines(keepends=True)
        day2_ts = lines[1].split(",")[2]
        from_day1 = day1.read_text().splitlines(keepends=True)[1].split(",")
        from_day1[2] = day2_ts  # dated on day 2, so only its key is wrong
        key_less = "," + lines[2].split(",", 1)[1]  # order_id empty
        day2.write_text("".join([lines[0], lines[1], lines[1], key_less, ",".join(from_day1), *lines[3:]]))
        result = run_range(defs, "2026-01-02", None, instance)
    assert not result.success
    evaluations = checks_by_name(result)
    unique, not_null = evaluations["primary_key_unique"], evaluations["keys_not_null"]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.ERROR
    assert unique.metadata["duplicate_keys"].value == 1  # repeated within the file
    assert unique.metadata["keys_in_other_partitions"].value == 1  # already published on day 1
    assert unique.metadata["other_partitions"].value == "2026-01-01"
    assert not not_null.passed and not_null.severity == dg.AssetCheckSeverity.ERROR
    assert not_null.metadata["null_keys"].value == 1
    assert evaluations["file_row_count"].passed and evaluations["reject_rate"].passed
    message = failure_message(result)
    assert "2026-01-02.csv: not published" in message and "primary_key_unique: 1 key(s) repeated" in message
    assert "keys_not_null: 1 row(s) with a NULL" in message, message
    assert published(platform_env) == before
    with warehouse(platform_env) as wh:
        quarantined = wh.execute(f"select count(*), min(reason) from {TABLE}_quarantine").fetchone()
    assert quarantined[0] == len(lines) + 2 - 1  # every data line of the refused file
    assert "primary_key_unique" in quarantined[1]
