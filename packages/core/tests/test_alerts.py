"""Alert sensors against a real HTTP server on 127.0.0.1 and a real Dagster instance."""

import dagster as dg
import pytest
from dataplat_core.alerts import (
    WEBHOOK_ENV,
    WebhookError,
    failed_check_alert_sensor,
    post_alert,
    run_failure_alert_sensor,
)
from dataplat_sandbox.webhook import WebhookReceiver


@pytest.fixture
def webhook(monkeypatch):
    """A webhook receiver that records every JSON body posted to it."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        yield receiver.posted


@dg.asset
def broken():
    raise RuntimeError("the source is gone")


@dg.asset
def fine():
    return 1


@dg.asset_check(asset=fine)
def fine_is_wrong() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


@dg.asset_check(asset=fine)
def fine_is_stale() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


def test_a_failed_run_is_posted_with_job_and_error(webhook):
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([broken], instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_event=failure, dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()  # fmt: skip
        run_failure_alert_sensor()(context)
    (alert,) = webhook
    assert result.run_id[:8] in alert["text"] and "failed" in alert["text"]
    assert "__ephemeral_asset_job__" in alert["text"]
    assert "broken: the source is gone" in alert["text"]  # the step's own message, not Dagster's wrapper


def test_failed_checks_are_posted_once_and_warnings_are_not(webhook):
    sensor = failed_check_alert_sensor()
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([fine, fine_is_wrong, fine_is_stale], instance=instance, raise_on_error=False)
        context = dg.build_sensor_context(instance=instance)
        sensor(context)
        assert [a["text"] for a in webhook] == [webhook[0]["text"]]
        assert "fine_is_wrong" in webhook[0]["text"] and "`fine`" in webhook[0]["text"]
        sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))  # nothing new: no repeat
    assert len(webhook) == 1


def test_sensors_run_by_default_only_where_a_webhook_is_configured(monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/hook")
    assert run_failure_alert_sensor().default_status == dg.DefaultSensorStatus.RUNNING
    monkeypatch.delenv(WEBHOOK_ENV)
    assert failed_check_alert_sensor().default_status == dg.DefaultSensorStatus.STOPPED


def test_an_unreachable_webhook_fails_loudly(monkeypatch):
    with pytest.raises(WebhookError, match="webhook post failed"):
        post_alert("hello", url="http://127.0.0.1:9/nothing-listens-here")
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    with pytest.raises(WebhookError, match=WEBHOOK_ENV):
        post_alert("hello")


def test_each_code_location_alerts_only_for_its_own_assets(webhook):
    other_location = dg.Definitions(assets=[broken], sensors=[failed_check_alert_sensor()])
    this_location = dg.Definitions(
        assets=[fine], asset_checks=[fine_is_wrong], sensors=[failed_check_alert_sensor()]
    )
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([fine, fine_is_wrong], instance=instance, raise_on_error=False)
        for defs in (other_location, this_location):
            repository = defs.get_repository_def()
            sensor = repository.get_sensor_def("alert_on_failed_check")
            sensor(dg.build_sensor_context(instance=instance, repository_def=repository))
    assert len(webhook) == 1 and "fine_is_wrong" in webhook[0]["text"]
