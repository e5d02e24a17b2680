"""Definitions used by test_runner.py (a module, because the runner loads code locations by module name)."""

import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")


@dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext):
    # Each partition reports its own rows (day of month), as a per-partition loader would.
    for key in context.partition_keys:
        yield dg.AssetMaterialization(
            asset_key=context.asset_key, partition=key, metadata={"dagster/row_count": int(key[-2:])}
        )
    yield dg.Output(None)


@dg.asset(deps=[daily])
def summary() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"dagster/row_count": 1, "report_path": dg.MetadataValue.path("/tmp/summary.html")}
    )


@dg.asset
def broken():
    raise RuntimeError("this asset always fails")


@dg.asset_check(asset=summary)
def summary_is_wrong() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


@dg.asset_check(asset=summary)
def summary_is_right() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=summary)
def summary_is_stale() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[daily, summary, broken], asset_checks=[summary_is_wrong, summary_is_right, summary_is_stale]
    )
