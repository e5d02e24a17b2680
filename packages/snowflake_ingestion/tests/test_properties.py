"""Property-based test (hypothesis) of CSV row parsing and rejection: a file of good rows and arbitrarily
mutated rows is loaded by the real DuckDB loader; every good row is loaded with its exact values, every mutated
row is quarantined, and loaded + rejected == the rows written == the data lines the loader counted."""

import contextlib
import csv
import io
from decimal import Decimal

import duckdb
import pytest
from dataplat_snowflake_ingestion.files.audit import AuditLimits
from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
from dataplat_snowflake_ingestion.files.model import FileSpec
from dataplat_snowflake_ingestion.files.schema import SchemaDriftError, validate_columns
from files_support import SETTLED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COLUMNS = {"id": "BIGINT", "name": "VARCHAR", "amount": "DECIMAL(12,2)", "day": "DATE"}
# Names may hold the characters that make CSV hard: delimiter, quotes, newlines, non-ASCII.
NAMES = st.text(alphabet=st.sampled_from(list('ab Z09,"\n;éß€\t')), min_size=1, max_size=12)
AMOUNTS = st.decimals(min_value=Decimal("-9999999999.99"), max_value=Decimal("9999999999.99"), places=2)
DAYS = st.dates().map(lambda d: d.isoformat())
GOOD = st.tuples(NAMES, AMOUNTS, DAYS)
# Each mutation makes the row unloadable in one way.
MUTATIONS = {
    "amount_not_a_number": lambda row: [row[0], row[1], "twelve", row[3]],
    "id_not_an_integer": lambda row: ["7x", row[1], row[2], row[3]],
    "impossible_date": lambda row: [row[0], row[1], row[2], "2026-02-30"],
    "missing_field": lambda row: row[:3],
    "extra_field": lambda row: [*row, "surplus"],
}


# Which column each mutation breaks (a missing or extra field breaks the row, not a column's type).
BROKEN = {"amount_not_a_number": 2, "id_not_an_integer": 0, "impossible_date": 3}


def _breaks(mutation: str, column: int) -> bool:
    return BROKEN.get(mutation) == column


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv-properties")
    db = folder / "w.duckdb"
    # Any share of bad rows: this test is about what happens to each row (refusals by rate: test_wap.py).
    limits = AuditLimits(reject_warn=1.0, reject_fail=1.0)
    spec = FileSpec("raw.t", validate_columns(COLUMNS), ("id",), completeness=SETTLED, limits=limits)
    return folder, db, DuckDBFileLoader(spec, lambda: contextlib.closing(duckdb.connect(str(db))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(GOOD, st.one_of(st.none(), st.sampled_from(sorted(MUTATIONS)))), min_size=1, max_size=40
    ),
    crlf=st.booleans(),
)
def test_every_row_is_loaded_with_its_values_or_quarantined(loader, rows, crlf):
    folder, db, load = loader
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(COLUMNS)
    expected, bad_lines = {}, []
    for i, ((name, amount, day), mutation) in enumerate(rows, start=1):
        row = [str(i), name, f"{amount:.2f}", day]
        if mutation:
            row = MUTATIONS[mutation](row)
            bad_lines.append(i + 1)  # the rejects' `line` counts records, the header being line 1
        else:
            expected[i] = (name, amount, day)
        writer.writerow(row)
    path = folder / "2026-01-02.csv"
    path.write_bytes(text.getvalue().encode("utf-8"))

    # A column where at least half of the sampled values do not cast is a retyped column: the whole file is
    # refused (tested in test_file_ingestion.py); below that share bad values are quarantined rows. The sample
    # skips ragged rows.
    sampled = [m for _, m in rows if m not in ("missing_field", "extra_field")]
    retyped = [
        k for k in (0, 2, 3) if sampled and 2 * sum(1 for m in sampled if _breaks(m, k)) >= len(sampled)
    ]
    if retyped:
        with pytest.raises(SchemaDriftError, match="retyped column"):
            load.load("2026-01-02", path)
        return
    result = load.load("2026-01-02", path)

    assert result.data_lines == len(rows)
    assert result.rows_loaded + result.rows_rejected == len(rows)
    assert (result.rows_loaded, result.rows_rejected) == (len(expected), len(bad_lines))
    with duckdb.connect(str(db), read_only=True) as conn:
        loaded = conn.execute("select id, name, amount, day::VARCHAR from raw.t order by id").fetchall()
        rejected = conn.execute("select distinct line from raw.t_rejects order by line").fetchall()
    assert {r[0]: tuple(r[1:]) for r in loaded} == expected
    assert [r[0] for r in rejected] == bad_lines
