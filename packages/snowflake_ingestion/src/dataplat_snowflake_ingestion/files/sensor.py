"""A sensor that requests one run per new or changed landing file, for exactly that file's partition, and a
daily schedule that requests the day that just ended unless its file is loaded already.

What is loaded is known from the partitions' materializations (module `identity`): a file that is the one
recorded there (same size and mtime, or the same content re-delivered) is not requested. The cursor only
remembers which file states were looked at (name -> size:mtime in ns), so an unchanged folder costs no
query; the run key is derived from the state, so a rewritten file runs again while the same file seen
twice never does. Hidden and temp names, names that do not match the pattern, dates outside the
partitions definition, files modified within `min_age_seconds` (possibly still being written) and files whose
marker or manifest has not arrived (completeness rules `marker`, `manifest`) are ignored; the latter two are
picked up by a later tick because the cursor does not record them. The loader applies the completeness rule
again on every path, the sensor's included.
"""

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from dataplat_snowflake_ingestion.files.completeness import Completeness
from dataplat_snowflake_ingestion.files.identity import FileIdentity, recorded_identities, unchanged_reason

# The record of what each partition loaded: partition keys -> the identity of the file it loaded.
LoadedLookup = Callable[[list[str]], Mapping[str, FileIdentity]]

_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", "~")


@dataclass(frozen=True)
class FilePattern:
    """A file name with `{date}` (YYYY-MM-DD) in it, e.g. `{date}.csv` or `sales_{date}.csv`."""

    template: str

    def __post_init__(self) -> None:
        if self.template.count("{date}") != 1 or "/" in self.template:
            raise ValueError(f"file pattern {self.template!r} must hold {{date}} once and no '/'")

    @property
    def regex(self) -> re.Pattern[str]:
        before, after = self.template.split("{date}")
        return re.compile(f"^{re.escape(before)}(\\d{{4}}-\\d{{2}}-\\d{{2}}){re.escape(after)}\\Z")

    def name_for(self, partition_key: str) -> str:
        return self.template.replace("{date}", partition_key)

    def date_of(self, name: str) -> str | None:
        """The partition key the name stands for, or None (not matching, temp file, impossible date)."""
        if name.startswith(".") or name.endswith(_TEMP_SUFFIXES):
            return None
        match = self.regex.match(name)
        if not match:
            return None
        try:
            return date.fromisoformat(match[1]).isoformat()
        except ValueError:
            return None


def state_key(stat) -> str:
    """A file's state as the cursor and the run key name it: `size:mtime_ns`."""
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def scan_folder(
    folder: Path,
    pattern: FilePattern,
    partitions_def: dg.PartitionsDefinition,
    cursor: dict[str, str],
    *,
    min_age_seconds: float,
    now: float | None = None,
    completeness: Completeness | None = None,
    loaded: LoadedLookup | None = None,
) -> tuple[list[dg.RunRequest], dict[str, str], list[str]]:
    """Run requests for new or changed files, the next cursor, and why files were skipped (for the log).
    `loaded` is the record of what is loaded (none: every new state is requested)."""
    now = time.time() if now is None else now
    valid = set(partitions_def.get_partition_keys())
    requests, next_cursor, skipped = [], dict(cursor), []
    candidates: list[tuple[Path, str, str]] = []
    if not folder.is_dir():
        return [], next_cursor, [f"{folder} does not exist yet"]
    for path in sorted(folder.iterdir()):
        key = pattern.date_of(path.name)
        if key is None or not path.is_file():
            continue
        if key not in valid:
            skipped.append(f"{path.name}: {key} is not a partition of this asset (yet)")
            continue
        stat = path.stat()
        if now - stat.st_mtime < min_age_seconds:
            skipped.append(f"{path.name}: modified {now - stat.st_mtime:.0f}s ago, may still be written")
            continue
        pending = completeness.pending_reason(path) if completeness else None
        if pending:
            skipped.append(f"{path.name}: {pending}")
            continue
        state = state_key(stat)
        if cursor.get(path.name) == state:
            continue
        candidates.append((path, key, state))
    record = loaded([key for _, key, _ in candidates]) if loaded and candidates else {}
    for path, key, state in candidates:
        next_cursor[path.name] = state
        reason = unchanged_reason(path, record.get(key))
        if reason:
            skipped.append(f"{path.name}: {reason}")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{path.name}:{state}",
                partition_key=key,
                tags={"dataplat/file": path.name, "dataplat/file_state": state},
            )
        )
    return requests, next_cursor, skipped


def build_file_sensor(
    *,
    name: str,
    asset_key: dg.AssetKey,
    job: Any,  # the unresolved asset job of define_asset_job
    subfolder: str,
    pattern: FilePattern,
    partitions_def: dg.PartitionsDefinition,
    min_age_seconds: float,
    interval_seconds: int,
    default_status: dg.DefaultSensorStatus,
    completeness: Completeness | None = None,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=default_status,
        required_resource_keys={"landing"},
        description=f"One run per new or changed file matching {pattern.template!r} in the landing's {subfolder}/.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        folder = context.resources.landing.local_path() / subfolder
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests, next_cursor, skipped = scan_folder(
            folder,
            pattern,
            partitions_def,
            cursor,
            min_age_seconds=min_age_seconds,
            completeness=completeness,
            loaded=lambda keys: recorded_identities(context.instance, asset_key, keys),
        )
        for reason in skipped:
            context.log.info(f"skipped {reason}")
        # Sorted keys: the cursor string only changes when a file does.
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(next_cursor, sort_keys=True))

    return _sensor


def build_file_schedule(
    *,
    name: str,
    asset_key: dg.AssetKey,
    job: Any,
    subfolder: str,
    pattern: FilePattern,
    partitions_def: dg.DailyPartitionsDefinition,
    hour_of_day: int,
    minute_of_hour: int,
    default_status: dg.DefaultScheduleStatus,
) -> dg.ScheduleDefinition:
    """Each day at hour:minute (the partitions' timezone), a run for the day that just ended, as
    `build_schedule_from_partitioned_job` would request it, skipped when that day's file is loaded already.
    A missing file is still requested: the run then fails naming it, which is the late-delivery alert."""

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=f"{minute_of_hour} {hour_of_day} * * *",
        execution_timezone=partitions_def.timezone,
        default_status=default_status,
        required_resource_keys={"landing"},
        description=f"Daily: the day that ended, unless its {pattern.template!r} file is loaded already.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        with dg.partition_loading_context(effective_dt=context.scheduled_execution_time):
            key = partitions_def.get_last_partition_key()
        if key is None:
            return dg.SkipReason("no partition has ended yet")
        path = context.resources.landing.local_path() / subfolder / pattern.name_for(key)
        reason = unchanged_reason(path, recorded_identities(context.instance, asset_key, [key]).get(key))
        if reason:
            return dg.SkipReason(f"{path.name}: {reason}")
        return dg.RunRequest(run_key=key, partition_key=key)

    return _schedule
