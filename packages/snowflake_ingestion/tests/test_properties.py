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
from dataplat_snowflake_ingestion.files.completeness import Completeness
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


# -- write, audit, publish: a delivery with random corruptions, killed at a random point --------------------

WAP_COLUMNS = {"id": "BIGINT", "name": "VARCHAR", "amount": "DECIMAL(12,2)", "day": "DATE"}
WAP_DAY = "2026-01-02"
ROW_REJECTS = {  # corruptions that reject one row; the rest of the delivery may still publish
    "bad_amount": lambda row: [row[0], row[1], "12,x", row[3]],
    "other_day": lambda row: [row[0], row[1], row[2], "2026-01-03"],
    "extra_empty_fields": lambda row: [*row, "", ""],
}
REFUSALS = {  # corruptions that refuse the whole delivery (a duplicated key is its row written twice)
    "null_key": lambda row: ["", *row[1:]],
    "duplicate_key": lambda row: row,
}
KILL_POINTS = (None, "staged", "deleted", "inserted", "rejects", "quarantined")


class _Killed(BaseException):
    """Raised by the hook at the chosen point: the load stops there, as a killed process would."""


def _wap_file(folder, rows, *, cut_last: bool) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(WAP_COLUMNS)
    writer.writerows(rows)
    payload = text.getvalue().encode()
    return payload[:-3] if cut_last else payload  # the last line loses "9" and its line end: 3.99 -> 3.9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    previous=st.lists(GOOD, min_size=1, max_size=15),
    delivery=st.lists(
        st.tuples(GOOD, st.one_of(st.none(), st.sampled_from(sorted({*ROW_REJECTS, *REFUSALS})))),
        min_size=2,
        max_size=30,
    ),
    cut_last=st.booleans(),
    kill_at=st.sampled_from(KILL_POINTS),
)
def test_published_day_is_always_the_previous_one_or_the_new_one_with_all_its_good_rows(
    tmp_path_factory, previous, delivery, cut_last, kill_at
):
    folder = tmp_path_factory.mktemp("wap")
    limits = AuditLimits(reject_warn=0.01, reject_fail=0.5)
    spec = FileSpec(
        "raw.t", validate_columns(WAP_COLUMNS), ("id",), date_column="day", limits=limits,
        completeness=Completeness(rule="marker"),  # a cut last line is then a reject, not an incomplete file
    )  # fmt: skip
    loader = DuckDBFileLoader(spec, lambda: contextlib.closing(duckdb.connect(str(folder / "w.duckdb"))))
    path = folder / f"{WAP_DAY}.csv"

    def deliver(rows, *, cut=False, hook=None):
        path.write_bytes(_wap_file(folder, rows, cut_last=cut))
        (folder / f"{WAP_DAY}.csv.done").write_text("")
        return loader.load(WAP_DAY, path, hook=hook)

    def state():
        with duckdb.connect(str(folder / "w.duckdb"), read_only=True) as conn:
            return conn.execute("select id, name, amount, day::VARCHAR from raw.t order by id").fetchall()

    old = [[str(100 + i), name, f"{amount:.2f}", WAP_DAY] for i, (name, amount, _) in enumerate(previous)]
    assert deliver(old).published
    before = state()

    rows, good, malformed, outside, refused = [], [], 0, 0, False
    for i, ((name, amount, _), corruption) in enumerate(delivery, start=1):
        row = [str(i), name, f"{amount:.2f}", WAP_DAY]
        if corruption == "other_day":
            outside += 1
        elif corruption in ROW_REJECTS:
            malformed += 1
        elif corruption == "duplicate_key":
            rows.append(row)  # the same key twice
            refused = True
        elif corruption == "null_key":
            refused = True
        else:
            good.append((i, name, amount, WAP_DAY))
        rows.append((ROW_REJECTS | REFUSALS)[corruption](row) if corruption else row)
    if cut_last:  # one more record, cut: a reject, never a value
        rows.append(["999", "cut", "3.99", WAP_DAY])
        malformed += 1
    parsed = len(rows) - malformed
    refused = (
        refused
        or (malformed + outside) / len(rows) > limits.reject_fail
        or outside / parsed > limits.max_outside_share
    )

    def kill(step):
        if step == kill_at:
            raise _Killed(step)

    try:
        result = deliver(rows, cut=cut_last, hook=kill)
    except (_Killed, SchemaDriftError):  # killed; or refused before staging (most of a column unparseable)
        result = None
    after = state()
    new = [(i, name, amount, day) for i, name, amount, day in good]
    assert after in (before, [tuple(r) for r in new]), "a mixture of the previous and the new delivery"
    if result is None or refused:
        assert after == before
    else:
        assert result.published and after == [tuple(r) for r in new]
        assert (result.rows_loaded, result.rows_rejected) == (len(good), malformed + outside)
