"""Definitions used by test_runner.py (a module, because the runner loads code locations by module name)."""

import dagster as dg
from dataplat_core.observability import UNCHANGED_PARTITIONS

days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")


@dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext):
    # Each partition reports the rows it moved (day of month), as a per-partition loader would, and the
    # table's rows once it is in (the sum so far).
    for key in context.partition_keys:
        loaded = int(key[-2:])
        metadata = {"dataplat/rows_loaded": loaded, "dagster/row_count": loaded * (loaded + 1) // 2}
        yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=metadata)
    yield dg.Output(None)


@dg.asset(deps=[daily])
def summary() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"dagster/row_count": 1, "report_path": dg.MetadataValue.path("/tmp/summary.html")}
    )


@dg.asset
def broken():
    raise RuntimeError("this asset always fails")


@dg.asset(output_required=False)
def already_loaded():
    """Finds its input loaded already: observes that, materializes nothing."""
    yield dg.AssetObservation("already_loaded", metadata={UNCHANGED_PARTITIONS: 3})


@dg.asset
def source_down():
    """The platform's own failure, raised from the low-level error it explains."""
    try:
        raise ConnectionRefusedError("raw driver log line 1\nraw driver log line 2")
    except ConnectionRefusedError as exc:
        raise dg.Failure(
            description="source database at 127.0.0.1:1 unreachable: check that it runs"
        ) from exc


@dg.asset_check(asset=summary)
def summary_is_wrong() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


@dg.asset_check(asset=summary)
def summary_is_right() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=summary)
def summary_is_stale() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="the newest row is at most a day old.",
        metadata={"age_hours": 30},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[daily, summary, broken, source_down, already_loaded],
        asset_checks=[summary_is_wrong, summary_is_right, summary_is_stale],
    )
