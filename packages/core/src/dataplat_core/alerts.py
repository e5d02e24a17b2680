"""Alerting: a run-failure sensor and a failed-check sensor that post to a webhook (Slack-compatible JSON).

The webhook URL comes from the environment (`ALERT_WEBHOOK_URL`, read when a sensor evaluates, never stored
in the definitions). Both sensors run by default when the variable is set where the code location loads, and
are stopped otherwise; every code location gets them through `platform_definitions`.
"""

import json
import os
import urllib.request

import dagster as dg

from dataplat_core.observability import explain_step_error

WEBHOOK_ENV = "ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 10


class WebhookError(RuntimeError):
    pass


def post_alert(text: str, url: str | None = None) -> None:
    """POST `{"text": ...}` (what Slack's incoming webhooks and most chat tools accept)."""
    url = url or os.environ.get(WEBHOOK_ENV)
    if not url:
        raise WebhookError(f"{WEBHOOK_ENV} is not set")
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            if response.status >= 300:
                raise WebhookError(f"webhook answered HTTP {response.status}")
    except OSError as exc:  # URLError, HTTPError, timeouts: the sensor tick fails and says why
        raise WebhookError(f"webhook post failed: {exc}") from exc


def _default_status() -> dg.DefaultSensorStatus:
    running = bool(os.environ.get(WEBHOOK_ENV))
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def run_failure_alert_sensor(name: str = "alert_on_run_failure") -> dg.SensorDefinition:
    @dg.run_failure_sensor(name=name, default_status=_default_status(), minimum_interval_seconds=30)
    def _sensor(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        # Why, as the platform says it: each failed step's own message (e.g. a component's dg.Failure naming
        # the file and the fix), not only the run's "Steps failed: [...]".
        reasons = []
        for event in context.get_step_failure_events():
            data = event.event_specific_data
            explained = explain_step_error(data.error if data else None)
            reasons.append(f"{event.step_key}: {explained[0] if explained else 'no message'}")
        error = "\n".join(reasons) or context.failure_event.message or "no message"
        post_alert(f":red_circle: Run {run.run_id[:8]} of `{run.job_name}` failed: {error}")

    return _sensor


def failed_check_alert_sensor(name: str = "alert_on_failed_check") -> dg.SensorDefinition:
    """Posts one alert per failed asset check evaluation (ERROR severity) since the last tick."""

    @dg.sensor(name=name, default_status=_default_status(), minimum_interval_seconds=30)
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        after = int(context.cursor) if context.cursor else None
        records = context.instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after),
            limit=500,
            ascending=True,
        )
        # Every code location runs this sensor on the shared instance: each alerts for its own assets only.
        own = context.repository_def.asset_graph.get_all_asset_keys() if context.repository_def else None
        failed = 0
        for record in records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            mine = own is None or evaluation.asset_key in own
            if mine and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                key = evaluation.asset_key.to_user_string()
                post_alert(
                    f":warning: Check `{evaluation.check_name}` on `{key}` failed (run {record.run_id[:8]})"
                )
                failed += 1
            context.update_cursor(str(record.storage_id))
        return dg.SkipReason(f"{len(records)} check evaluation(s) read, {failed} alert(s) posted")

    return _sensor


def alert_sensors() -> list[dg.SensorDefinition]:
    return [run_failure_alert_sensor(), failed_check_alert_sensor()]
