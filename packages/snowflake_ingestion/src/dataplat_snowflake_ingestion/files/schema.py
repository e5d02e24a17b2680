"""The declared column schema of a landing file, what a file's header says about it, and the drift policy.

Everything here works on the local file before any warehouse statement runs, so a file that cannot be
loaded fails before the transaction that would replace a partition even starts: nothing loaded is touched.
Both warehouse strategies (DuckDB, Snowflake) share it.
"""

import csv
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
from dataplat_core.warehouse import quote_identifier

# Types a file column may be declared as: a portable subset with one spelling on DuckDB and one on
# Snowflake, so one YAML declaration loads the same table in both warehouses.
_DECIMAL = re.compile(r"^DECIMAL\((\d{1,2}),\s*(\d{1,2})\)\Z")
_SNOWFLAKE_TYPES = {
    "BIGINT": "NUMBER(38,0)",
    "INTEGER": "NUMBER(38,0)",
    "SMALLINT": "NUMBER(38,0)",
    "DOUBLE": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "TIMESTAMPTZ": "TIMESTAMP_TZ",
    "VARCHAR": "VARCHAR",
}
# New columns found in a file are added as text: a type guessed from one day's file would reject the
# next day's rows as soon as one value differs. Downstream models cast them once they are understood.
EVOLVED_TYPE = "VARCHAR"
# A declared column counts as retyped when at least this share of the sampled non-empty values fail to
# cast to its declared type. A few bad values are rejects (counted, checked); most of them is a new format.
RETYPED_SHARE = 0.5
SAMPLE_ROWS = 2_000
_HEAD_BYTES = 64 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")


class FileProblem(ValueError):
    """The file cannot be loaded at all (empty, binary, wrong delimiter, no data rows, no file)."""


def unparseable(path: Path, exc: Exception) -> FileProblem:
    """DuckDB's CSV reader gave up on the whole file (e.g. mixed `\\n` and `\\r\\n` line endings): a `FileProblem`
    naming the file and DuckDB's first line, instead of an error that names neither."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FileProblem(
        f"{path}: the CSV reader cannot parse the file ({first}; mixed line endings or malformed quoting?); "
        "nothing loaded"
    )


class SchemaDriftError(ValueError):
    """The file's columns differ from the declaration in a way the asset's drift policy refuses."""


class DriftPolicy(enum.StrEnum):
    FAIL = "fail"
    EVOLVE = "evolve"


def normalize_type(declared: str) -> str:
    """Upper-case, validated column type; raises on anything outside the portable subset."""
    text = " ".join(str(declared).split()).upper()
    if text in _SNOWFLAKE_TYPES:
        return text
    match = _DECIMAL.match(text)
    if match and 0 < int(match[1]) <= 38 and int(match[2]) <= int(match[1]):
        return f"DECIMAL({match[1]},{match[2]})"
    allowed = ", ".join(_SNOWFLAKE_TYPES) + ", DECIMAL(p,s)"
    raise ValueError(f"column type {declared!r} is not supported; use one of: {allowed}")


def snowflake_type(duckdb_type: str) -> str:
    match = _DECIMAL.match(duckdb_type)
    return f"NUMBER({match[1]},{match[2]})" if match else _SNOWFLAKE_TYPES[duckdb_type]


def validate_columns(columns: Mapping[str, str]) -> dict[str, str]:
    if not columns:
        raise ValueError("the file schema declares no columns")
    out = {}
    for name, declared in columns.items():
        quote_identifier(name)  # raises InvalidIdentifier with the name
        out[name] = normalize_type(declared)
    return out


@dataclass(frozen=True)
class Drift:
    """How a file's columns differ from the declaration (empty when they match)."""

    new: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    retyped: Mapping[str, str] = field(default_factory=dict)  # column -> "declared TYPE, values like 'x'"

    def __bool__(self) -> bool:
        return bool(self.new or self.missing or self.retyped)

    def describe(self) -> str:
        parts = []
        if self.new:
            parts.append("new column(s) " + ", ".join(self.new))
        if self.missing:
            parts.append("missing column(s) " + ", ".join(self.missing))
        if self.retyped:
            parts.append("retyped column(s) " + "; ".join(f"{c} ({why})" for c, why in self.retyped.items()))
        return "; ".join(parts) or "none"

    def metadata(self) -> dict[str, object]:
        return {
            "drift_new_columns": ", ".join(self.new),
            "drift_missing_columns": ", ".join(self.missing),
            "drift_retyped_columns": ", ".join(self.retyped),
        }


@dataclass(frozen=True)
class FileInspection:
    path: Path
    bytes: int
    header: tuple[str, ...]  # the file's column names, matched to the declared spelling where they match
    # Records after the header (a last unterminated one included): counted by a CSV reader when the file has
    # a quote or no line end; else the newlines, which overcount blank lines (see `exact`).
    data_lines: int
    ends_with_newline: bool = True
    # A line ends with the delimiter somewhere: some record may carry empty extra trailing fields
    # (`1,a,1.00,,`), which DuckDB's reader would silently drop; `record_lines` finds them.
    may_have_trailing_fields: bool = False
    file_header: tuple[str, ...] = ()  # the names as the file spells them
    counted_records: bool = False  # data_lines came from a CSV reader
    delimiter: str = ","

    @property
    def last_record_line(self) -> int:
        """The last record's line number as the rejects table counts lines (the header is line 1)."""
        return self.data_lines + 1

    def exact(self) -> "FileInspection":
        """This inspection with the records counted by a CSV reader. The loaders ask for it only when the
        reader's figures differ from the newline count: blank lines, which are no records, are then the
        usual reason, and searching every file for them would cost a third of a second per 250 MB."""
        if self.counted_records:
            return self
        records = _count_records(self.path, self.delimiter)
        if records <= 0:
            raise FileProblem(f"{self.path}: the file has a header but no data rows")
        return replace(self, data_lines=records, counted_records=True)


def _count_lines(path: Path, delimiter: str) -> tuple[int, bool, bool, bool]:
    """Newlines in the file, whether it ends with one, whether it holds a quote (then only a CSV reader can
    count its records), and whether some line ends with the delimiter, in 8 MiB chunks (constant memory)."""
    count, last, quoted, trailing = 0, b"\n", False, False
    # A two-byte pattern ending in a newline costs ~1 s per GB to search (a newline every ~50 bytes): the CR
    # variant is searched only in chunks that hold a CR at all (a single byte: ~30 GB/s), and blank lines
    # are not searched (`FileInspection.exact`).
    ends = (delimiter.encode() + b"\n", delimiter.encode() + b"\r\n")
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            count += chunk.count(b"\n")
            edge = last[-2:] + chunk[:2]  # a pattern may straddle two chunks
            crlf = b"\r" in chunk or b"\r" in edge
            quoted = quoted or b'"' in chunk
            trailing = trailing or any(t in chunk or t in edge for t in ends[: 1 + crlf])
            last = chunk[-2:]
    return count, last.endswith(b"\n"), quoted, trailing


def _reader(fh, delimiter: str, strict: bool = True):
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # a huge field is a reject, not a crash
    return csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True, strict=strict)


def _count_records(path: Path, delimiter: str, *, strict: bool = True) -> int:
    """Data records as a CSV reader sees them (RFC 4180, as DuckDB reads the file): a newline inside a quoted
    field does not end a record and blank lines are no records. Only for files where the newline count is not
    the answer. A quoted field still open at the end of the file swallowed every line after its start:
    `FileProblem` naming that line. Other malformed quoting (`"a"x`) is one record, rejected by the loader."""
    # Latin-1 maps every byte to one character: the structure (quotes, delimiters, newlines) is ASCII, and
    # invalid UTF-8 inside a field is DuckDB's reject to report, not a reason to miscount.
    with path.open(encoding="latin-1", newline="") as fh:
        reader = _reader(fh, delimiter, strict)
        records, start = 0, 1
        try:
            for row in reader:
                records += 1 if row else 0
                start = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise FileProblem(
                    f"{path}: the quoted field opened in the record starting on line {start} is never closed "
                    "(it would swallow every line after it); nothing loaded"
                ) from None
            return _count_records(path, delimiter, strict=False)
    return records - 1  # the header


@dataclass(frozen=True)
class RecordLines:
    """Every data record's line number as DuckDB's rejects count them (rows, blank ones included; the
    header is line 1), in file order, and the records with empty extra trailing fields."""

    lines: list[int]
    trailing_fields: list[int]


def record_lines(path: Path, delimiter: str, header_fields: int) -> RecordLines:
    """One CSV pass over the file (about 1M records/s): only for the rare loads that must name the line of
    a row that parsed (a refused delivery, a row outside its partition) or drop rows DuckDB's reader accepts
    (empty extra trailing fields, which DuckDB 1.4 ignores even with strict_mode)."""
    lines, trailing = [], []
    with path.open(encoding="latin-1", newline="") as fh:
        reader = _reader(fh, delimiter, strict=False)
        next(reader, None)
        for index, row in enumerate(reader, start=2):
            if not row:
                continue
            lines.append(index)
            if len(row) > header_fields and not any(row[header_fields:]):
                trailing.append(index)
    return RecordLines(lines, trailing)


def canonical_header(
    header: Sequence[str], declared: Mapping[str, str], *, case_sensitive: bool = False
) -> tuple[str, ...]:
    """The file's column names with the declared spelling where a name matches a declared column (ignoring
    case unless `case_sensitive`): `ORDER_ID` is `order_id`."""
    if case_sensitive:
        return tuple(header)
    by_lower = {name.lower(): name for name in declared}
    return tuple(by_lower.get(name.lower(), name) for name in header)


def inspect_file(
    path: Path, declared: Mapping[str, str], delimiter: str = ",", *, case_sensitive: bool = False
) -> FileInspection:
    """Header and data line count of a landing file; `FileProblem` naming the file if it is not loadable."""
    if not path.is_file():
        raise FileProblem(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(f"{path}: the file is empty (0 bytes), expected a CSV header and data rows")
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if b"\x00" in head:
        raise FileProblem(
            f"{path}: not a CSV text file (binary content: NUL bytes in the first {len(head)} bytes)"
        )
    first, _, _ = head.partition(b"\n")
    try:
        line = first.decode("utf-8").lstrip("\ufeff").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path}: not a UTF-8 CSV text file ({exc.reason} at byte {exc.start})") from None
    file_header = tuple(name.strip() for name in next(csv.reader([line], delimiter=delimiter)))
    if len(file_header) == 1 and len(declared) > 1:
        found = [d for d in _OTHER_DELIMITERS if d in line]
        hint = f"; the header contains {found[0]!r} (wrong delimiter?)" if found else ""
        raise FileProblem(
            f"{path}: the header has a single column with delimiter {delimiter!r}, "
            f"expected {len(declared)} columns{hint}"
        )
    header = canonical_header(file_header, declared, case_sensitive=case_sensitive)
    if len(set(header)) != len(header) or not all(header):
        raise FileProblem(f"{path}: the header has empty or duplicate column names: {list(file_header)}")
    newlines, ends_with_newline, quoted, trailing = _count_lines(path, delimiter)
    inspection = FileInspection(
        path, size, header, newlines - 1 + (0 if ends_with_newline else 1), ends_with_newline, trailing,
        file_header, delimiter=delimiter,
    )  # fmt: skip
    if quoted or not ends_with_newline or inspection.data_lines <= 0:
        return inspection.exact()
    return inspection


def tail_bytes(path: Path) -> bytes:
    """The bytes after the file's last line end: its unterminated last record (empty when it ends with one)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - _HEAD_BYTES))
        block = fh.read()
    return block.rpartition(b"\n")[2]


def tail_text(path: Path) -> str:
    return tail_bytes(path).decode("utf-8", errors="replace")


def _retyped(
    path: Path, header: Sequence[str], declared: Mapping[str, str], delimiter: str
) -> dict[str, str]:
    """Declared columns whose sampled values mostly fail to cast (an in-memory DuckDB reads the sample)."""
    checked = [c for c in header if c in declared and declared[c] != "VARCHAR"]
    if not checked:
        return {}
    as_text = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    probes = []
    for c in checked:
        q = quote_identifier(c)
        probes += [
            f"count({q}) filter (where {q} <> '')",
            f"count({q}) filter (where {q} <> '' and try_cast({q} as {declared[c]}) is null)",
            f"min({q}) filter (where {q} <> '' and try_cast({q} as {declared[c]}) is null)",
        ]
    sql = (
        f"select {', '.join(probes)} from (select * from read_csv(?, columns={as_text}, header=true, "
        f"delim='{delimiter}', quote='\"', escape='\"', auto_detect=false, ignore_errors=true) "
        f"limit {SAMPLE_ROWS})"
    )
    with duckdb.connect() as conn:
        try:
            row = conn.execute(sql, [str(path)]).fetchone()
        except duckdb.InvalidInputException as exc:
            raise unparseable(path, exc) from exc
    out = {}
    for i, c in enumerate(checked):
        values, failed, example = row[3 * i : 3 * i + 3]
        if values and failed / values >= RETYPED_SHARE:
            out[c] = f"declared {declared[c]}, {failed} of {values} sampled values are not, e.g. {example!r}"
    return out


def detect_drift(inspection: FileInspection, declared: Mapping[str, str], delimiter: str = ",") -> Drift:
    header = inspection.header
    return Drift(
        new=tuple(c for c in header if c not in declared),
        missing=tuple(c for c in declared if c not in header),
        retyped=_retyped(inspection.path, header, declared, delimiter),
    )


@dataclass(frozen=True)
class LoadPlan:
    """What to read from the file and how the table must change, once the drift policy has decided."""

    file_columns: tuple[tuple[str, str], ...]  # (name, type) in the file's order
    add_columns: tuple[tuple[str, str], ...]  # columns the table gains (policy evolve)
    drift: Drift


def plan_load(
    inspection: FileInspection,
    drift: Drift,
    declared: Mapping[str, str],
    table_columns: Sequence[str],
    primary_key: Sequence[str],
    policy: DriftPolicy,
) -> LoadPlan:
    """Apply the drift policy; raises `SchemaDriftError` naming the file and the columns when it refuses."""
    where = f"{inspection.path}: schema drift against the declared columns"
    if drift.retyped:
        # Never evolved: widening a typed column would silently change it for every downstream reader.
        raise SchemaDriftError(f"{where}: {drift.describe()}")
    missing_keys = [c for c in primary_key if c in drift.missing]
    if missing_keys:
        raise SchemaDriftError(
            f"{where}: primary key column(s) {', '.join(missing_keys)} missing from the file; {drift.describe()}"
        )
    if drift and policy is DriftPolicy.FAIL:
        raise SchemaDriftError(
            f"{where}: {drift.describe()} (policy 'fail'; set schema_drift: evolve to accept)"
        )
    for name in drift.new:
        try:
            quote_identifier(name)
        except ValueError:
            raise SchemaDriftError(f"{where}: new column {name!r} is not a valid identifier") from None
    # Columns added by an earlier evolve are text too (EVOLVED_TYPE), so the declaration decides every type.
    file_columns = tuple((c, declared.get(c, EVOLVED_TYPE)) for c in inspection.header)
    add = tuple((c, EVOLVED_TYPE) for c in drift.new if c not in table_columns)
    return LoadPlan(file_columns, add, drift)
