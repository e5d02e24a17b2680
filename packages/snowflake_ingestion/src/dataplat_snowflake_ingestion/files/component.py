"""`FileIngestionComponent`: daily landing files into a warehouse table, one file per daily partition.

Builds, from one YAML declaration: the partitioned asset (single-run backfills, `warehouse` pool), its
in-step checks (the write-audit-publish audits of `audit.py`, schema drift, and the core's row-count and
freshness checks), a job, a daily schedule and a sensor for new or changed files. The load strategy (DuckDB
or Snowflake) is chosen at run time from the `warehouse` resource that the environment built, so the same
YAML runs locally and in prod.
"""

from datetime import date, timedelta
from typing import Literal

import dagster as dg
from dataplat_core.checks import TableCheck, check_results, freshness_check, min_rows_check
from dataplat_core.observability import (
    UNCHANGED_PARTITIONS,
    StepRetry,
    fail_fast_unless_transient,
    load_logger,
    table_metadata,
)
from dataplat_core.warehouse import WAREHOUSE_POOL, Warehouse, quote_table, table_exists
from pydantic import Field, field_validator, model_validator

from dataplat_snowflake_ingestion.files import audit
from dataplat_snowflake_ingestion.files.audit import AuditLimits
from dataplat_snowflake_ingestion.files.completeness import Completeness, FileIncomplete
from dataplat_snowflake_ingestion.files.identity import (
    FORCE_TAG,
    force_requested,
    recorded_identities,
    unchanged_reason,
)
from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
from dataplat_snowflake_ingestion.files.model import FileSpec, LoadResult
from dataplat_snowflake_ingestion.files.schema import (
    Drift,
    DriftPolicy,
    FileProblem,
    SchemaDriftError,
    validate_columns,
)
from dataplat_snowflake_ingestion.files.sensor import FilePattern, build_file_schedule, build_file_sensor
from dataplat_snowflake_ingestion.files.snowflake import SnowflakeFileLoader

CHECK_SCHEMA_DRIFT = "schema_drift"


class RejectRate(dg.Model, dg.Resolvable):
    """Share of a file's data lines that may be rejected: above `warn` the check warns, above `fail` the
    delivery is refused (not published, quarantined) and the check fails (ERROR, blocking)."""

    warn: float = Field(default=0.01, ge=0, le=1)
    fail: float = Field(default=0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "RejectRate":
        if self.warn > self.fail:
            raise ValueError(f"reject_rate.warn ({self.warn}) must not exceed reject_rate.fail ({self.fail})")
        return self


class Freshness(dg.Model, dg.Resolvable):
    """`max_lag_hours`: Dagster freshness policy (the newest materialization is at most this old).
    `column` (optional): also check the data, i.e. max(column) of the table is at most `max_lag_hours` old."""

    max_lag_hours: float = Field(default=30, gt=0)
    column: str | None = None


class SensorSettings(dg.Model, dg.Resolvable):
    default_status: Literal["running", "stopped"] = "stopped"
    min_file_age_seconds: float = Field(default=30, ge=0)  # younger files may still be being written
    interval_seconds: int = Field(default=30, ge=5)


class ScheduleSettings(dg.Model, dg.Resolvable):
    """Daily run for the partition that just ended (yesterday's file), at this time in `timezone`."""

    default_status: Literal["running", "stopped"] = "stopped"
    hour_of_day: int = Field(default=2, ge=0, le=23)
    minute_of_hour: int = Field(default=0, ge=0, le=59)


class FileIngestionComponent(dg.Component, dg.Model, dg.Resolvable):
    """Daily landing files (`<landing>/<landing_subfolder>/<file_pattern>`) into `table`, one partition per
    file date, loaded atomically and idempotently, with rejects, drift handling and checks."""

    table: str = Field(description="Target table `schema.table`; the asset key is `schema/table`.")
    landing_subfolder: str = Field(description="Folder under the `landing` resource's root.")
    file_pattern: str = Field(default="{date}.csv", description="File name, `{date}` = YYYY-MM-DD.")
    columns: dict[str, str] = Field(description="Declared column name -> type, in file order.")
    primary_key: list[str]
    partition_start_date: str = Field(description="First partition (YYYY-MM-DD).")
    partition_end_date: str | None = Field(default=None, description="End (exclusive); none: open-ended.")
    timezone: str = "UTC"
    delimiter: str = ","
    schema_drift: Literal["fail", "evolve"] = "fail"
    case_sensitive_header: bool = Field(
        default=False, description="Match header names to the declared columns with their case."
    )
    reject_rate: RejectRate = Field(default_factory=RejectRate)
    date_column: str | None = Field(
        default=None,
        description="The column that dates a row: rows not on the partition's day are rejects, and a file "
        "whose rows are mostly (more than max_outside_share) on other days is refused.",
    )
    max_outside_share: float = Field(default=0.5, ge=0, le=1)
    completeness: Completeness = Field(default_factory=Completeness)
    freshness: Freshness | None = None
    min_rows: int = Field(default=1, ge=0, description="Row-count check: the table holds at least this many.")
    timestamp_column: str | None = Field(
        default=None,
        description="Column whose max is the load's dataplat/source_newest_at; default: freshness.column, "
        "else the first declared TIMESTAMP/TIMESTAMPTZ/DATE column.",
    )
    step_retry: StepRetry = Field(default_factory=StepRetry)
    sensor: SensorSettings = Field(default_factory=SensorSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    group_name: str | None = None
    description: str | None = None

    @field_validator("partition_start_date", "partition_end_date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        return None if value is None else date.fromisoformat(value).isoformat()

    @field_validator("landing_subfolder")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if value.startswith("/") or ".." in parts or not all(parts):
            raise ValueError(f"landing_subfolder must be a relative folder without '..': {value!r}")
        return value.strip("/")

    @model_validator(mode="after")
    def _end_after_start(self) -> "FileIngestionComponent":
        if self.partition_end_date and self.partition_end_date <= self.partition_start_date:
            raise ValueError(
                f"partition_end_date ({self.partition_end_date}) must be after partition_start_date "
                f"({self.partition_start_date})"
            )
        return self

    # -- derived --

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.split("."))

    @property
    def name(self) -> str:
        return self.table.replace(".", "__")

    def file_spec(self) -> FileSpec:
        return FileSpec(
            table=self.table,
            columns=validate_columns(self.columns),
            primary_key=tuple(self.primary_key),
            drift_policy=DriftPolicy(self.schema_drift),
            delimiter=self.delimiter,
            timestamp_column=self.newest_column(),
            date_column=self.date_column,
            limits=AuditLimits(self.reject_rate.warn, self.reject_rate.fail, self.max_outside_share),
            completeness=self.completeness,
            case_sensitive_header=self.case_sensitive_header,
        )

    def newest_column(self) -> str | None:
        if self.timestamp_column or (self.freshness and self.freshness.column):
            return self.timestamp_column or self.freshness.column
        declared = validate_columns(self.columns)
        return next((c for c, t in declared.items() if t in ("TIMESTAMP", "TIMESTAMPTZ", "DATE")), None)

    def table_checks(self) -> list[TableCheck]:
        """The table-wide checks, evaluated by the load step itself after its partitions are in (a step of
        their own would be skipped whenever the load yields no output, i.e. in every run). Key uniqueness and
        not-null are audits of every delivery (`audit.py`): a second, table-wide computation could disagree
        with the decision the loader took. Column changes are the `schema_drift` check: the file's columns
        against the declaration, before anything is published (Dagster's column schema change check compares
        two materializations of the table, whose columns are the declaration's)."""
        checks = [min_rows_check(self.asset_key, self.table, self.min_rows)]
        if self.freshness and self.freshness.column:
            max_age = timedelta(hours=self.freshness.max_lag_hours)
            checks.append(freshness_check(self.asset_key, self.table, self.freshness.column, max_age))
        return checks

    def partitions_def(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(
            start_date=self.partition_start_date, end_date=self.partition_end_date, timezone=self.timezone
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        spec, pattern, partitions = self.file_spec(), FilePattern(self.file_pattern), self.partitions_def()
        asset = build_file_asset(self, spec, pattern, partitions, self.table_checks())
        job = dg.define_asset_job(
            f"load_{self.name}", selection=dg.AssetSelection.assets(self.asset_key), partitions_def=partitions
        )
        schedule = build_file_schedule(
            name=f"{self.name}_daily",
            asset_key=self.asset_key,
            job=job,
            subfolder=self.landing_subfolder,
            pattern=pattern,
            partitions_def=partitions,
            hour_of_day=self.schedule.hour_of_day,
            minute_of_hour=self.schedule.minute_of_hour,
            default_status=dg.DefaultScheduleStatus(self.schedule.default_status.upper()),
        )
        sensor = build_file_sensor(
            name=f"{self.name}_files",
            asset_key=self.asset_key,
            job=job,
            subfolder=self.landing_subfolder,
            pattern=pattern,
            partitions_def=partitions,
            min_age_seconds=self.sensor.min_file_age_seconds,
            interval_seconds=self.sensor.interval_seconds,
            default_status=dg.DefaultSensorStatus(self.sensor.default_status.upper()),
            completeness=self.completeness,
        )
        return dg.Definitions(
            assets=[asset],
            jobs=[job],
            schedules=[schedule],
            sensors=[sensor],
        )


class RefusedDelivery(ValueError):
    """A blocking audit refused the delivery: nothing published, the rows are in quarantine."""


# Write, audit, publish in each warehouse's own statements (COPY and a staging table differ), by its SQL dialect.
LOADERS: dict[str, type[DuckDBFileLoader] | type[SnowflakeFileLoader]] = {
    "duckdb": DuckDBFileLoader,
    "snowflake": SnowflakeFileLoader,
}


def strategy_for(warehouse: Warehouse, spec: FileSpec) -> DuckDBFileLoader | SnowflakeFileLoader:
    """The load strategy for the platform's `warehouse` (see dataplat_core.warehouse)."""
    loader = LOADERS.get(getattr(warehouse, "dialect", None))
    if loader is None:
        raise TypeError(
            f"no file load strategy for {type(warehouse).__name__}: the `warehouse` resource must be a "
            f"dataplat_core Warehouse of dialect {' or '.join(LOADERS)}"
        )
    return loader(spec, warehouse.get_connection)


def _audit_check(
    name: str, results: list[LoadResult], incomplete: dict[str, str], unchanged: int
) -> dg.AssetCheckResult:
    """One check result for audit `name` over every partition the run tried (a backfill tries several):
    the audits the loader computed, figures summed (counts) or maxed (shares) across partitions."""
    per_partition = {r.partition_key: a for r in results for a in r.audits if a.name == name}
    failing = {pk: a.summary for pk, a in per_partition.items() if not a.passed}
    refused = [pk for pk, a in per_partition.items() if a.refuses]
    if name == audit.COMPLETENESS:
        failing.update(incomplete)
        refused += list(incomplete)
    figures: dict[str, object] = {}
    for a in per_partition.values():
        for key, value in a.figures.items():
            figures[key] = (
                max(figures.get(key, 0), value)
                if isinstance(value, float)
                else (figures.get(key, 0) + value if isinstance(value, int) else value)
            )
    return dg.AssetCheckResult(
        check_name=name,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if refused else dg.AssetCheckSeverity.WARN,
        metadata={
            **figures,
            "partitions_audited": len(per_partition) + (len(incomplete) if name == audit.COMPLETENESS else 0),
            "failing_partitions": failing,
            "refused_partitions": sorted(refused),
            "partitions_unchanged": unchanged,
        },
    )


def _check_results(
    component: FileIngestionComponent,
    results: list[LoadResult],
    failures: list[tuple[str, Exception]],
    *,
    unchanged: int = 0,
) -> list[dg.AssetCheckResult]:
    """One result per check for the run: the loader's audits, and schema drift. Partitions whose file was
    unchanged were not audited again: their count is in every result's `partitions_unchanged`."""
    incomplete = {pk: str(exc) for pk, exc in failures if isinstance(exc, FileIncomplete)}
    checks = [_audit_check(name, results, incomplete, unchanged) for name in _audit_names(component)]
    drifted = {r.partition_key: r.drift.describe() for r in results if r.drift}
    refused = {pk: str(exc) for pk, exc in failures if isinstance(exc, SchemaDriftError)}
    drift = dg.AssetCheckResult(
        check_name=CHECK_SCHEMA_DRIFT,
        passed=not drifted and not refused,
        # Refused drift failed the load (ERROR); drift the 'evolve' policy absorbed is a warning to look at.
        severity=dg.AssetCheckSeverity.ERROR if refused else dg.AssetCheckSeverity.WARN,
        metadata={
            "policy": component.schema_drift,
            "evolved_partitions": drifted,
            "refused_partitions": refused,
            "partitions_unchanged": unchanged,
            **_drift_union([r.drift for r in results]),
        },
    )
    return [*checks, drift]


def _audit_names(component: FileIngestionComponent) -> tuple[str, ...]:
    return tuple(n for n in audit.AUDITS if n != audit.PARTITION_DATES or component.date_column)


_AUDIT_DESCRIPTIONS = {
    audit.COMPLETENESS: "The file is a whole delivery under the feed's completeness rule ({rule}).",
    audit.REJECT_RATE: "Rejected lines per file at most {warn:.2%} (warn); above {fail:.2%} the delivery is refused.",
    audit.FILE_ROW_COUNT: "Rows parsed + rows rejected == data records of the file (tolerance 0).",
    audit.KEYS_NOT_NULL: "No delivered row has a NULL in ({keys}).",
    audit.PRIMARY_KEY_UNIQUE: "No key ({keys}) repeats within a delivery or is already in another partition.",
    audit.PARTITION_DATES: "Rows are dated ({date_column}) on their partition's day; refused above {share:.0%} outside.",
}


def _drift_union(drifts: list[Drift]) -> dict[str, str]:
    new = sorted({c for d in drifts for c in d.new})
    missing = sorted({c for d in drifts for c in d.missing})
    return {"new_columns": ", ".join(new), "missing_columns": ", ".join(missing)}


def build_file_asset(
    component: FileIngestionComponent,
    spec: FileSpec,
    pattern: FilePattern,
    partitions: dg.PartitionsDefinition,
    table_checks: list[TableCheck],
) -> dg.AssetsDefinition:
    key = component.asset_key
    words = {
        "rule": component.completeness.rule,
        "warn": component.reject_rate.warn,
        "fail": component.reject_rate.fail,
        "keys": ", ".join(component.primary_key),
        "date_column": component.date_column,
        "share": component.max_outside_share,
    }
    check_specs = [
        dg.AssetCheckSpec(
            name, asset=key, blocking=True, description=_AUDIT_DESCRIPTIONS[name].format(**words)
        )
        for name in _audit_names(component)
    ]
    check_specs.append(
        dg.AssetCheckSpec(
            CHECK_SCHEMA_DRIFT,
            asset=key,
            description=f"File columns match the declaration (policy: {component.schema_drift}).",
        )
    )
    check_specs += [c.spec for c in table_checks]
    freshness_policy = (
        dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=component.freshness.max_lag_hours))
        if component.freshness
        else None
    )

    @dg.asset(
        key=key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        output_required=False,  # partitions whose file is unchanged are not materialized again
        pool=WAREHOUSE_POOL,
        retry_policy=component.step_retry.policy(),
        required_resource_keys={"warehouse", "landing"},
        check_specs=check_specs,
        group_name=component.group_name or key.path[0],
        description=component.description
        or f"Daily files {component.landing_subfolder}/{component.file_pattern} loaded into {component.table}.",
        kinds={"csv"},
        freshness_policy=freshness_policy,
        metadata={
            "table": component.table,
            "rejects_table": f"{component.table}_rejects",
            "landing": f"{component.landing_subfolder}/{component.file_pattern}",
            "schema_drift_policy": component.schema_drift,
            "dagster/table_name": component.table,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c, t) for c, t in spec.columns.items()]
            ),
        },
    )
    def _load_files(context: dg.AssetExecutionContext):
        loader = strategy_for(context.resources.warehouse, spec)
        log = load_logger(context)
        results: list[LoadResult] = []
        failures: list[tuple[str, Exception]] = []
        # The partitions' materializations record which file each loaded: an unchanged file is not loaded
        # again (module `identity`), whichever path started the run, unless the run asks for a reload.
        recorded = (
            {}
            if force_requested(context.run.tags)
            else recorded_identities(context.instance, key, context.partition_keys)
        )
        unchanged: dict[str, str] = {}
        # Each partition is its own transaction: a bad file fails its partition and leaves the others loaded.
        # A transient error (a lock, the network) fails the step for the retry policy; any other is final.
        with fail_fast_unless_transient():
            folder = context.resources.landing.existing_folder() / component.landing_subfolder
            for partition_key in context.partition_keys:
                path = folder / pattern.name_for(partition_key)
                reason = unchanged_reason(path, recorded.get(partition_key))
                if reason:
                    unchanged[partition_key] = f"{path.name}: {reason}"
                    continue
                try:
                    result = loader.load(partition_key, path)
                except (FileProblem, SchemaDriftError) as exc:
                    log.error(f"partition {partition_key} not loaded: {exc}")
                    failures.append((partition_key, exc))
                    continue
                results.append(result)
                if not result.published:
                    refused = RefusedDelivery(
                        f"{path}: not published, the published partition is unchanged and the delivery is in "
                        f"{spec.quarantine_table}: {audit.refusal(result.audits)}"
                    )
                    log.error(f"partition {partition_key} refused: {refused}")
                    failures.append((partition_key, refused))
                    continue
                log.info(
                    f"partition {partition_key}: {result.rows_loaded} rows loaded, {result.rows_rejected} "
                    f"rejected from {path.name} in {result.seconds:.2f}s"
                )
        if unchanged:
            log.info(
                f"{len(unchanged)} of {len(context.partition_keys)} partition(s) not reloaded, their files are "
                f"the ones loaded (a run tagged {FORCE_TAG}=true reloads them): "
                + "; ".join(unchanged.values())
            )
            yield dg.AssetObservation(
                key,
                metadata={
                    UNCHANGED_PARTITIONS: len(unchanged),
                    "unchanged_files": dg.MetadataValue.json(unchanged),
                },
            )
        # One materialization per published partition: a partition whose file was unchanged or refused
        # keeps its last one (downstream automation sees only what really changed). Each says what the
        # whole table holds once the step's partitions are in.
        published = [r for r in results if r.published]
        table = table_metadata(context.resources.warehouse, component.table) if published else {}
        for result in published:
            yield dg.AssetMaterialization(
                key, partition=result.partition_key, metadata={**result.metadata(), **table}
            )
        # Check outputs are required; with every file unchanged they report that nothing new was audited.
        yield from _check_results(component, results, failures, unchanged=len(unchanged))
        if published or table_exists(context.resources.warehouse, component.table):
            yield from check_results(table_checks, context.resources)
        else:
            yield from (
                c.not_evaluated(f"{component.table} does not exist: no file published yet")
                for c in table_checks
            )
        if failures:
            lines = "\n".join(f"- {pk}: {exc}" for pk, exc in failures)
            raise dg.Failure(
                description=f"{len(failures)} of {len(context.partition_keys)} partition(s) of "
                f"{quote_table(component.table)} not loaded:\n{lines}",
                metadata={"failed_partitions": [pk for pk, _ in failures]},
                allow_retries=False,  # the same files would fail the same way
            )

    return _load_files
