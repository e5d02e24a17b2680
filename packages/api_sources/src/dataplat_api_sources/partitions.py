"""Dagster time partitions -> dlt's incremental window -> the API's start / end query parameters.

dlt and Dagster do not connect these out of the box. Here a run's partition (or the whole range of a single-run
backfill) becomes a half-open window `[start, end)`, which becomes
`dlt.sources.incremental(cursor, initial_value=start, end_value=end, range_end="open")`, which `rest_api` sends
as `<start_param>=start&<end_param>=end` (the API's own semantics: since inclusive, until exclusive). With an `end_value`
dlt keeps no cursor state for the run, so re-running a day reads exactly that day again; with `merge` the load
is idempotent.

An unpartitioned run has no window: the incremental starts at `initial_value` and then at the cursor dlt stored
in the destination after the previous run, with no upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any


@dataclass(frozen=True)
class Window:
    """A half-open time window `[start, end)` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if not self.start < self.end:
            raise ValueError(f"empty window: {self.start} >= {self.end}")

    @property
    def label(self) -> str:
        """Filesystem- and identifier-safe name, e.g. `20260103` for a day, `20260103_20260106` for a range."""
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        if (end - start).days == 1 and start.time() == datetime.min.time():
            return start.strftime("%Y%m%d")
        fmt = "%Y%m%d" if start.time() == end.time() == datetime.min.time() else "%Y%m%dT%H%M%S"
        return f"{start.strftime(fmt)}_{end.strftime(fmt)}"


def to_utc(value: datetime | date | str) -> datetime:
    """A datetime, date or ISO string as an aware UTC datetime (naive means UTC, as the API reads it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: Any) -> str | None:
    """How the API wants timestamps in query parameters: `YYYY-MM-DDTHH:MM:SSZ` (microseconds kept if present)."""
    if value is None:
        return None
    value = to_utc(value)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(fmt)


def partition_window(context: Any) -> Window | None:
    """The run's time window: one partition, or the full range of a single-run backfill; None if unpartitioned.

    Takes any Dagster execution context (asset or asset check) exposing `has_partition_key(_range)` and
    `partition_time_window`.
    """
    has_key = getattr(context, "has_partition_key", False)
    has_range = getattr(context, "has_partition_key_range", False)
    if not (has_key or has_range):
        return None
    window = context.partition_time_window
    return Window(to_utc(window.start), to_utc(window.end))


def incremental_window_config(
    cursor: str,
    since_param: str,
    until_param: str | None,
    window: Window | None,
    initial_value: datetime,
) -> dict[str, Any]:
    """rest_api's endpoint `incremental` block for one resource (an `IncrementalConfig`).

    Partitioned: `[window.start, window.end)`. Unpartitioned: from `initial_value` (then from the stored cursor),
    no end, so the `until` parameter is not sent.
    """
    config: dict[str, Any] = {
        "cursor_path": cursor,
        "start_param": since_param,
        "initial_value": window.start if window else initial_value,
        "range_start": "closed",
        "range_end": "open",
        "convert": iso_utc,
    }
    if window is not None:
        if until_param:  # else the API serves everything after the start and dlt drops what lies past the end
            config["end_param"] = until_param
        config["end_value"] = window.end
    return config
