"""What a partition load needs (`FileSpec`) and what it reports (`LoadResult`), shared by both strategies."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dataplat_core.observability import load_metadata
from dataplat_core.warehouse import quote_identifier, quote_table

from dataplat_snowflake_ingestion.files.audit import Audit, AuditLimits, DeliveryFigures, audit_delivery
from dataplat_snowflake_ingestion.files.completeness import Completeness
from dataplat_snowflake_ingestion.files.identity import FileIdentity
from dataplat_snowflake_ingestion.files.schema import Drift, DriftPolicy

# Lineage columns every loaded row carries. `_file_date` is the partition: one file date, replaced as a whole.
# The file's path is not repeated on every row (it cost ~30 % of the load time in the benchmark); the
# partition names the file, and the materialization metadata and the rejects table record its path.
PARTITION_COLUMN = "_file_date"
LOADED_AT_COLUMN = "_loaded_at"
# The rejects table: one row per rejected line (DuckDB reports the first failing column of each line).
# The quarantine table has the same columns: the rows of a refused delivery, each with its reason.
REJECT_COLUMNS = (
    ("partition_date", "DATE"),
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("column_name", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("raw_line", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
)

# Called with a step name between the statements of the load transaction. Only the crash tests use it: it
# lets a real process be killed at a known point of the transaction instead of at a random one.
StepHook = Callable[[str], None]
_DATED_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMPTZ")


@dataclass(frozen=True)
class FileSpec:
    table: str  # schema.table, validated
    columns: Mapping[str, str]  # declared name -> normalized type, in file order
    primary_key: tuple[str, ...]
    drift_policy: DriftPolicy = DriftPolicy.FAIL
    delimiter: str = ","
    # The column whose newest value is the load's `dataplat/source_newest_at` (None: not recorded).
    timestamp_column: str | None = None
    # The column that dates a row: rows whose date is not the partition's day are rejects (None: not checked).
    date_column: str | None = None
    limits: AuditLimits = field(default_factory=AuditLimits)
    completeness: Completeness = field(default_factory=Completeness)
    case_sensitive_header: bool = False

    def __post_init__(self) -> None:
        quote_table(self.table)
        for role, column in (("timestamp", self.timestamp_column), ("date", self.date_column)):
            if column is not None and column not in self.columns:
                raise ValueError(f"{role} column {column!r} is not a declared column")
        if self.date_column is not None and self.columns[self.date_column] not in _DATED_TYPES:
            raise ValueError(
                f"date column {self.date_column!r} must be one of {', '.join(_DATED_TYPES)}, "
                f"not {self.columns[self.date_column]}"
            )
        if "." not in self.table:
            raise ValueError(f"table {self.table!r} must be schema-qualified: schema.table")
        missing = [c for c in self.primary_key if c not in self.columns]
        if not self.primary_key or missing:
            raise ValueError(
                f"primary key {list(self.primary_key)} must name declared columns (missing: {missing})"
            )
        if len(self.delimiter) != 1 or self.delimiter in "\"'\n\r":
            raise ValueError(
                f"delimiter must be one character other than quotes and newlines: {self.delimiter!r}"
            )

    @property
    def schema(self) -> str:
        return self.table.split(".")[0]

    @property
    def rejects_table(self) -> str:
        return f"{self.table}_rejects"

    @property
    def quarantine_table(self) -> str:
        return f"{self.table}_quarantine"

    def quoted_quarantine(self) -> str:
        return quote_table(self.quarantine_table)

    def quoted(self) -> str:
        return quote_table(self.table)

    def quoted_rejects(self) -> str:
        return quote_table(self.rejects_table)

    @staticmethod
    def q(name: str) -> str:
        return quote_identifier(name)

    def audit(self, figures: DeliveryFigures, partition_key: str) -> list[Audit]:
        """The audits of one staged delivery of this feed (both warehouse strategies)."""
        return audit_delivery(
            figures, self.limits, partition_key=partition_key, primary_key=self.primary_key,
            date_column=self.date_column,
        )  # fmt: skip


@dataclass
class LoadResult:
    partition_key: str
    file: Path
    bytes: int
    data_lines: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    drift: Drift = field(default_factory=Drift)
    added_columns: tuple[str, ...] = ()
    source_newest_at: datetime | None = None  # max(timestamp_column) of the rows loaded
    audits: tuple[Audit, ...] = ()
    published: bool = True  # False: a blocking audit failed, the delivery is in quarantine
    identity: FileIdentity | None = None  # the file that was loaded (recorded in the materialization)

    def refused_by(self) -> list[Audit]:
        return [a for a in self.audits if a.refuses]

    @property
    def reject_rate(self) -> float:
        return self.rows_rejected / self.data_lines if self.data_lines else 0.0

    @property
    def counts_match(self) -> bool:
        """Every data line of the file is either in the table or in the rejects table (tolerance 0)."""
        return self.rows_loaded + self.rows_rejected == self.data_lines

    def metadata(self) -> dict[str, object]:
        uniform = load_metadata(
            rows_read=self.data_lines,
            rows_loaded=self.rows_loaded,
            rows_rejected=self.rows_rejected,
            source_newest_at=self.source_newest_at,
            duration_s=self.seconds,
        )
        return {
            **uniform,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "reject_rate": round(self.reject_rate, 6),
            "file_data_lines": self.data_lines,
            "file": str(self.file),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_loaded / self.seconds) if self.seconds else 0,
            "schema_drift": self.drift.describe(),
            "added_columns": ", ".join(self.added_columns),
            "audits": ", ".join(
                f"{a.name}={'pass' if a.passed else 'FAIL' if a.refuses else 'warn'}" for a in self.audits
            ),
            **(self.identity.metadata() if self.identity else {}),
        }
