"""A partitioned asset watched by a sensor, for test_runner.py: the sensor requests the partitions in REQUESTED
(a test sets them), as the file sensor requests the days whose files are new or changed."""

import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")
REQUESTED: set[str] = set()


@dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
def sensed() -> None:
    """Each partition of the run's range is materialized."""


load_sensed = dg.define_asset_job("load_sensed", selection=[sensed])


@dg.sensor(job=load_sensed, required_resource_keys={"landing"})
def new_days(context: dg.SensorEvaluationContext):
    assert context.resources.landing == "the sensor's resource, as the file sensor's landing folder"
    return [dg.RunRequest(run_key=key, partition_key=key) for key in sorted(REQUESTED)]


defs = dg.Definitions(
    assets=[sensed],
    jobs=[load_sensed],
    sensors=[new_days],
    resources={"landing": "the sensor's resource, as the file sensor's landing folder"},
)
