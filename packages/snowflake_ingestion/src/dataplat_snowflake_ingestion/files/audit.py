"""The audits of a staged delivery: computed once, between write and publish, by either warehouse strategy.

A delivery (one file for one partition) is staged, measured (`DeliveryFigures`, one set of queries against
the staging table) and judged here. Any failed blocking audit and the delivery is not published: the
published partition stays exactly as it was and the staged rows go to quarantine. The asset's blocking
checks report these same audits (`dataplat_snowflake_ingestion.files.component`), so the check a user sees
and the decision the loader took can never disagree.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# The audits, in the order a refusal names them; each is also the name of the asset check reporting it.
COMPLETENESS = "completeness"
REJECT_RATE = "reject_rate"
FILE_ROW_COUNT = "file_row_count"
KEYS_NOT_NULL = "keys_not_null"
PRIMARY_KEY_UNIQUE = "primary_key_unique"
PARTITION_DATES = "partition_dates"
AUDITS = (COMPLETENESS, REJECT_RATE, FILE_ROW_COUNT, KEYS_NOT_NULL, PRIMARY_KEY_UNIQUE, PARTITION_DATES)


@dataclass(frozen=True)
class AuditLimits:
    reject_warn: float = 0.01  # share of data lines rejected above which reject_rate warns
    reject_fail: float = 0.05  # ... above which the delivery is refused
    # Share of rows outside the partition's day above which the file is refused as another day's file;
    # below it, those rows are rejects with their reason.
    max_outside_share: float = 0.5


@dataclass(frozen=True)
class DeliveryFigures:
    """What the staging queries measured for one delivery."""

    data_lines: int  # records of the file
    parsed_rows: int  # rows the reader accepted (staged)
    malformed: int  # records the reader or the loader refused (cast, field count, no line end)
    outside: int = 0  # parsed rows whose date is not the partition's day (or is NULL)
    null_keys: int = 0  # parsed rows with a NULL in a key column
    duplicate_keys: int = 0  # keys on more than one parsed row of the delivery
    keys_elsewhere: int = 0  # keys of the delivery already published in another partition
    other_partitions: tuple[str, ...] = ()  # a few of those partitions, for the message
    stated_rows: int | None = None  # data rows the manifest states, if it does

    @property
    def rows_loaded(self) -> int:
        return self.parsed_rows - self.outside

    @property
    def rows_rejected(self) -> int:
        return self.malformed + self.outside

    @property
    def reject_rate(self) -> float:
        return self.rows_rejected / self.data_lines if self.data_lines else 0.0


@dataclass(frozen=True)
class Audit:
    name: str
    passed: bool
    refuses: bool  # failed at ERROR: the delivery is not published
    summary: str
    figures: Mapping[str, object] = field(default_factory=dict)


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.2%})" if whole else f"{part}"


def audit_delivery(
    figures: DeliveryFigures,
    limits: AuditLimits,
    *,
    partition_key: str,
    primary_key: Sequence[str],
    date_column: str | None,
) -> list[Audit]:
    f, keys = figures, ", ".join(primary_key)
    rate = f.reject_rate
    audits = [
        Audit(COMPLETENESS, True, False, "the file is a whole delivery", {}),
        Audit(
            REJECT_RATE,
            rate <= limits.reject_warn,
            rate > limits.reject_fail,
            f"{_share(f.rows_rejected, f.data_lines)} data lines rejected; warn above "
            f"{limits.reject_warn:.2%}, refused above {limits.reject_fail:.2%}",
            {
                "max_reject_rate": round(rate, 6),
                "rows_rejected": f.rows_rejected,
                "file_data_lines": f.data_lines,
            },
        ),
        Audit(
            FILE_ROW_COUNT,
            (ok := f.parsed_rows + f.malformed == f.data_lines),
            not ok,
            f"{f.parsed_rows} parsed + {f.malformed} malformed vs {f.data_lines} data lines of the file",
            {"parsed_rows": f.parsed_rows, "malformed": f.malformed, "file_data_lines": f.data_lines},
        ),
        Audit(
            KEYS_NOT_NULL,
            f.null_keys == 0,
            f.null_keys > 0,
            f"{f.null_keys} row(s) with a NULL in ({keys})",
            {"null_keys": f.null_keys},
        ),
        Audit(
            PRIMARY_KEY_UNIQUE,
            (ok := f.duplicate_keys == 0 and f.keys_elsewhere == 0),
            not ok,
            f"{f.duplicate_keys} key(s) repeated within the file, {f.keys_elsewhere} key(s) already in "
            f"partition(s) {', '.join(f.other_partitions) or '-'} ({keys})",
            {
                "duplicate_keys": f.duplicate_keys,
                "keys_in_other_partitions": f.keys_elsewhere,
                "other_partitions": ", ".join(f.other_partitions),
            },
        ),
    ]
    if f.stated_rows is not None and f.stated_rows != f.data_lines:
        audits[0] = Audit(
            COMPLETENESS,
            False,
            True,
            f"the manifest states {f.stated_rows} data rows, the file has {f.data_lines}",
            {"stated_rows": f.stated_rows, "file_data_lines": f.data_lines},
        )
    if date_column is not None:
        outside_share = f.outside / f.parsed_rows if f.parsed_rows else 0.0
        audits.append(
            Audit(
                PARTITION_DATES,
                f.outside == 0,
                outside_share > limits.max_outside_share,
                f"{_share(f.outside, f.parsed_rows)} rows have {date_column} outside {partition_key}; "
                f"refused above {limits.max_outside_share:.0%} (another day's file?), rejected below",
                {"rows_outside": f.outside, "max_outside_share": round(outside_share, 6)},
            )
        )
    return audits


def refusal(audits: Sequence[Audit]) -> str:
    """The failed blocking audits with their figures, for the run's failure and the quarantine's reason."""
    return "; ".join(f"{a.name}: {a.summary}" for a in audits if a.refuses)
