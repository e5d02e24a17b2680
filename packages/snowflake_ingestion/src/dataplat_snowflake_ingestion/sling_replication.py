"""Sling database replication as a component that uses the platform's shared `sling` resource.

It extends `dagster_sling.SlingReplicationCollectionComponent` through its documented hooks:
- `get_asset_spec` (the translator hook): an asset's key is its warehouse table (`raw_crm/accounts` for
  `raw_crm.accounts`), without Sling's `target` prefix, with a description of what Sling does for it;
- `execute`: Sling runs in streaming mode (one failing stream does not mark every other stream failed), through
  the Sling 1.4.11 workarounds (`sling_workarounds/`: unchanged streams skipped, a stalled Sling killed, its
  failures explained), and each materialization gets the platform's load metadata and data version;
- `build_defs`: every stream with a primary key gets the core's table checks, freshness on its update_key and
  Dagster's column schema change check.

`build_asset` is replaced only for what dagster-sling 0.29's own lacks (it passes neither a pool nor resources to
`@sling_assets`, and names assets from each stream's own config): the replication runs in the `warehouse`
concurrency pool (DuckDB allows one writer per file), with the platform's `sling`, `warehouse` and
`source_postgres` resources (connections from environment variables, never from YAML), on the replication with
its defaults spelled out per stream.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster.components.resolved.core_models import OpSpec
from dagster_sling import SlingReplicationCollectionComponent, SlingResource, sling_assets
from dagster_sling.asset_decorator import get_streams_from_replication
from dagster_sling.components.sling_replication_collection.component import (
    SlingComponentTranslator,
    SlingReplicationSpecModel,
)
from dagster_sling.sling_replication import validate_replication
from dataplat_core.checks import (
    Outcome,
    TableCheck,
    checks_step,
    column_schema_change_checks,
    table_checks,
)
from dataplat_core.observability import (
    COLUMN_SCHEMA,
    StepRetry,
    fail_fast_unless_transient,
    load_logger,
    load_metadata,
    table_metadata,
    with_retry_policy,
)
from dataplat_core.warehouse import (
    WAREHOUSE_POOL,
    Warehouse,
    WarehouseBusy,
    fetch_one,
    quote_table,
    table_version,
)

from dataplat_snowflake_ingestion.sling_workarounds.errors import explain_failures
from dataplat_snowflake_ingestion.sling_workarounds.unchanged_streams import (
    SlingSubsetContext,
    StreamCheck,
    check_streams,
    context_streams_in_run_config,
    skipped_result,
)
from dataplat_snowflake_ingestion.sling_workarounds.watchdog import SlingWatchdog


def source_row_count_check(
    asset: dg.AssetKey, table: str, source_table: str, tolerance: float = 0.01
) -> TableCheck:
    """The warehouse table holds as many rows as the source table, within `tolerance` (a fraction of the
    source's count: a live source keeps changing between the load and the check)."""
    warehouse_sql = f"select count(*) from {quote_table(table)}"
    quote_table(source_table)  # reject a bad name when the code location loads

    def evaluate(resources) -> Outcome:
        (loaded,) = fetch_one(resources.warehouse, warehouse_sql)
        source = resources.source_postgres.row_count(source_table)
        difference = abs(int(loaded) - source)
        return Outcome(
            difference <= tolerance * source,
            {"warehouse_rows": int(loaded), "source_rows": source, "difference": difference,
             "tolerance": tolerance},
        )  # fmt: skip

    description = f"Rows in {table} equal rows in the source's {source_table}, within {tolerance:.1%}."
    return TableCheck(
        asset, "row_count_matches_source", description, evaluate,
        resource_keys=frozenset({"warehouse", "source_postgres"}),
    )  # fmt: skip


def _describe(stream_definition: Mapping[str, Any], table: str) -> str:
    config = stream_definition.get("config") or {}
    mode = config.get("mode") or "full-refresh"
    how = {
        "incremental": f"new and changed rows (by {config.get('update_key') or 'primary key'}) merged on "
        f"({', '.join(config.get('primary_key') or [])})",
        "full-refresh": "the whole table reloaded",
        "truncate": "the whole table reloaded into the same table",
        "snapshot": "a snapshot appended",
    }.get(mode, f"mode {mode}")
    return f"Source table {stream_definition['name']} replicated by Sling into {table}: {how}."


def expand_replication(path: Path) -> dict[str, Any]:
    """The replication with each stream's target `object` (from `defaults.object`), `mode`, `update_key` and
    `primary_key` spelled out from the defaults.

    Sling applies the defaults itself, but dagster-sling names and describes assets from the stream's own
    config only; writing them into each stream gives the same replication to Sling and the table's name and
    load mode to Dagster.
    """
    config = dict(validate_replication(path))
    defaults = config.get("defaults") or {}
    template = defaults.get("object")
    streams = {}
    for name, stream in (config.get("streams") or {}).items():
        stream = dict(stream or {})
        if template and "object" not in stream:
            schema, _, table = name.rpartition(".")
            stream["object"] = template.replace("{stream_schema}", schema).replace("{stream_table}", table)
        for spelled in ("mode", "update_key", "primary_key"):
            if spelled in defaults and spelled not in stream:
                stream[spelled] = defaults[spelled]
        streams[name] = stream
    return {**config, "streams": streams}


@dataclass
class DatabaseReplicationComponent(SlingReplicationCollectionComponent):
    """Sling replications (a `replication.yaml` each) into the warehouse, through the shared `sling` resource.

    `row_count_tolerance`: how far (a fraction of the source's rows) a table may differ from its source table
    in the `row_count_matches_source` check; the source keeps changing between a load and its check.
    """

    row_count_tolerance: float = 0.01
    # The `freshness` check (WARN): a stream's newest update_key in the warehouse is at most this old. Null: none.
    freshness_max_age_hours: float | None = 24.0
    # A stream's `dataplat/source_newest_at` is max(update_key) in the target, else max of this column if
    # the target table has it, else null.
    timestamp_column: str | None = "updated_at"
    step_retry: StepRetry = field(default_factory=StepRetry)
    # Before Sling starts, each selected incremental stream's newest update_key in the source is compared with
    # the warehouse table's; a stream with nothing newer (Sling would select no row) is reported as
    # materialized, unchanged, without running Sling for it. Anything in doubt runs through Sling.
    skip_unchanged_streams: bool = True
    # Sling 1.4.11 can deadlock with its DuckDB CLI (both idle, forever): when Sling and its children use no CPU
    # for this long, they are killed and the step fails as transient, so the retry policy runs it again
    # (sling_watchdog.py). Null turns it off; a Snowflake target whose COPY waits longer needs more.
    stall_timeout_seconds: float | None = 600.0

    def __post_init__(self) -> None:
        self._replications: dict[str, _Replication] = {}  # by the spec's replication.yaml path

    def get_asset_spec(self, stream_definition: Mapping[str, Any]) -> dg.AssetSpec:
        spec = super().get_asset_spec(stream_definition)
        key = dg.AssetKey(spec.key.path[1:]) if spec.key.path[0] == "target" else spec.key
        table = ".".join(key.path)
        return spec.replace_attributes(
            key=key,
            group_name=spec.group_name or key.path[0],
            description=spec.description or _describe(stream_definition, table),
        ).merge_attributes(metadata={"dagster/table_name": table})

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        defs = super().build_defs(context)
        steps = []
        for replication in self.replications:
            config = expand_replication(context.path / replication.path)
            checks, keys = [], []
            defaults = config.get("defaults") or {}
            for stream in get_streams_from_replication(config):
                primary_key = stream["config"].get("primary_key") or defaults.get("primary_key")
                if primary_key:
                    key = self.get_asset_spec(stream).key
                    table = ".".join(key.path)
                    update_key = stream["config"].get("update_key") or defaults.get("update_key")
                    max_age = self.freshness_max_age_hours
                    checks += table_checks(
                        key, table, primary_key=primary_key,
                        freshness_column=update_key if max_age else None,
                        max_age=timedelta(hours=max_age or 24),
                    )  # fmt: skip
                    checks.append(
                        source_row_count_check(key, table, stream["name"], self.row_count_tolerance)
                    )
                    keys.append(key)
            steps += checks_step(f"{_op_name(replication)}_checks", checks)
            steps += column_schema_change_checks(keys)
        return dg.Definitions.merge(defs, dg.Definitions(asset_checks=steps))

    def build_asset(
        self, context: dg.ComponentLoadContext, replication_spec_model: SlingReplicationSpecModel
    ) -> dg.AssetsDefinition:
        op_spec = replication_spec_model.op or OpSpec()
        replication = self._replication(context.path, replication_spec_model)

        @sling_assets(
            name=_op_name(replication_spec_model),
            op_tags=op_spec.tags,
            replication_config=replication.config,
            dagster_sling_translator=replication.translator,
            backfill_policy=op_spec.backfill_policy,
            pool=op_spec.pool or WAREHOUSE_POOL,
        )
        def _replication(
            context: dg.AssetExecutionContext,
            sling: SlingResource,
            # required here (`@sling_assets` takes no resource keys); `execute` reads them from the context
            warehouse: dg.ResourceParam[Any],
            source_postgres: dg.ResourceParam[Any],
        ):
            yield from self.execute(
                context=context, sling=sling, replication_spec_model=replication_spec_model
            )

        return with_retry_policy(_replication, self.step_retry.policy())

    def _replication(self, base: Path, model: SlingReplicationSpecModel) -> "_Replication":
        """The replication of a spec as this component runs it, built once when the location loads."""
        config = expand_replication(base / model.path)
        streams = get_streams_from_replication(config)
        defaults = config.get("defaults") or {}
        replication = _Replication(
            config=config,
            translator=SlingComponentTranslator(self, model, base),
            keys={stream["name"]: self.get_asset_spec(stream).key for stream in streams},
            update_keys={
                self.get_asset_spec(stream).key: stream["config"].get("update_key")
                or defaults.get("update_key")
                for stream in streams
            },
        )
        self._replications[model.path] = replication
        return replication

    def execute(
        self,
        context: dg.AssetExecutionContext,
        sling: SlingResource,
        replication_spec_model: SlingReplicationSpecModel,
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        """The selected streams through Sling: the unchanged ones reported without it, the others replicated
        under the watchdog, each materialization with the platform's load metadata; a failing stream still
        leaves the others' materializations recorded, then fails the step (retried only if transient)."""
        replication = self._replications[replication_spec_model.path]
        warehouse, source_postgres = context.resources.warehouse, context.resources.source_postgres
        log = load_logger(context)
        _wait_for_the_warehouse_lock(warehouse)
        selected = {n: k for n, k in replication.keys.items() if k in context.selected_asset_keys}
        skipped = self._unchanged_streams(context, replication, selected, warehouse, source_postgres, log)
        for check in skipped:
            table = table_metadata(warehouse, check.table)
            version, _ = self._version(warehouse, check.table, check.update_key, table, log)
            yield skipped_result(check, version, table)
        to_run = {n: k for n, k in selected.items() if n not in {c.stream for c in skipped}}
        if skipped and not to_run:
            log.info(f"every selected stream ({len(selected)}) is unchanged: Sling not started")
            return
        if skipped:
            log.info(f"Sling runs {len(to_run)} of {len(selected)} streams: {', '.join(to_run)}")
            subset = {**replication.config, "streams": {n: replication.config["streams"][n] for n in to_run}}
            iterator = sling.replicate(
                context=SlingSubsetContext(context, set(to_run.values())),
                replication_config=subset,
                dagster_sling_translator=replication.translator,
                stream=True,
            )
        else:
            iterator = sling.replicate(context=context, stream=True)
        if "column_metadata" in replication_spec_model.include_metadata:
            iterator = iterator.fetch_column_metadata()
        if "row_count" in replication_spec_model.include_metadata:
            iterator = iterator.fetch_row_count()
        # The warehouse is read (newest timestamps) only once Sling has let go of it: DuckDB has one writer.
        results, error = self._replicate(explain_failures(iterator, sling), log)
        for event in results:
            if isinstance(event, dg.MaterializeResult) and event.asset_key is not None:
                event = self._with_load_metadata(
                    event, warehouse, replication.update_keys.get(event.asset_key), log
                )
            yield event
        if error is not None:
            with fail_fast_unless_transient():
                raise error

    def _unchanged_streams(
        self, context, replication: "_Replication", selected, warehouse, source_postgres, log
    ) -> list[StreamCheck]:
        if not self.skip_unchanged_streams:
            return []
        if context_streams_in_run_config(context):
            log.info("the run config selects Sling's streams (context_streams): no stream is skipped")
            return []
        checks = check_streams(replication.config, selected, warehouse, source_postgres)
        for check in checks:
            log.info(check.log_line())
        return [c for c in checks if c.unchanged]

    def _replicate(self, iterator, log) -> tuple[list[Any], BaseException | None]:
        """Every event Sling yields, under the watchdog, and the error that ended it (if any)."""
        results, error = [], None
        with SlingWatchdog(self.stall_timeout_seconds, log) as watchdog:
            try:
                for event in iterator:
                    results.append(event)
            except Exception as exc:
                error = exc
        if watchdog.killed:  # what Sling printed about being killed says nothing of why
            stalled = dg.Failure(description=watchdog.killed, allow_retries=True)
            stalled.__cause__ = error
            error = stalled
        return results, error

    def _with_load_metadata(
        self, event: dg.MaterializeResult, warehouse: Any, update_key: str | None, log: Any
    ) -> dg.MaterializeResult:
        """Sling's own metadata plus the platform's uniform load metadata and the table's rows and columns
        (dataplat_core.observability). Sling reports the rows it inserted per stream (`row_count`) and rejects
        none; `dagster/row_count` is the whole table's, as with dagster-sling's `row_count` add-on."""
        metadata = dict(event.metadata or {})
        raw = metadata.get("row_count")
        rows = int(getattr(raw, "value", raw) or 0)
        elapsed = metadata.get("elapsed_time")
        table = ".".join(event.asset_key.path)
        facts = table_metadata(warehouse, table)
        version, newest = self._version(warehouse, table, update_key, facts, log)
        uniform = load_metadata(
            rows_read=rows,
            rows_loaded=rows,
            rows_rejected=0,
            source_newest_at=newest,
            duration_s=float(getattr(elapsed, "value", elapsed) or 0.0),
        )
        log.info(f"stream {table}: {rows} rows loaded, newest {newest}")
        return dg.MaterializeResult(
            asset_key=event.asset_key,
            metadata={**uniform, **metadata, **facts},
            check_results=event.check_results,
            data_version=dg.DataVersion(version) if version else event.data_version,
            tags=event.tags,
        )

    def _version(
        self, warehouse: Any, table: str, update_key: str | None, facts: dict[str, Any], log: Any
    ) -> tuple[str | None, Any]:
        """(data version, newest value) of a loaded table (`table_version`), by its update_key, else by the
        component's `timestamp_column` when the table has it (its columns: `facts`, the table's metadata);
        (None, None) without either or on an error."""
        column = update_key
        try:
            if column is None and self.timestamp_column:
                columns = {c.name.lower() for c in facts[COLUMN_SCHEMA].value.columns}
                column = self.timestamp_column if self.timestamp_column.lower() in columns else None
            if column is None:
                return None, None
            return table_version(warehouse, table, column)
        except Exception as exc:  # the metadata must not fail a load that succeeded
            log.warning(f"newest {column} of {table} not read: {exc}")
            return None, None


@dataclass(frozen=True)
class _Replication:
    """One replication as the component runs it: the config with defaults per stream, the translator, each
    stream's asset key and each asset's update_key."""

    config: dict[str, Any]
    translator: SlingComponentTranslator
    keys: dict[str, dg.AssetKey]
    update_keys: dict[dg.AssetKey, str | None]


def _wait_for_the_warehouse_lock(warehouse: Warehouse) -> None:
    """Sling writes the warehouse outside the resource (its own CLI): wait until it can (`wait_until_writable`:
    a DuckDB file's lock, WAREHOUSE_LOCK_TIMEOUT_S), else fail naming the holder."""
    try:
        warehouse.wait_until_writable()
    except WarehouseBusy as exc:  # the cause first, as the UI shows it; a lock is worth a retry
        raise dg.Failure(description=str(exc), allow_retries=True) from exc


def _op_name(replication: SlingReplicationSpecModel) -> str:
    """The replication's step: its `op.name`, else its YAML file's name."""
    return (replication.op.name if replication.op else None) or Path(replication.path).stem
