import io
import json
import sys
from pathlib import Path

import dagster as dg
from dataplat_core.runner import AssetOutcome, load_definitions, main, materialize_all

sys.path.insert(0, str(Path(__file__).parent))


def _outcomes(window=None):
    out = io.StringIO()
    defs = load_definitions("runner_defs")
    with dg.DagsterInstance.ephemeral() as instance:
        outcomes = materialize_all(defs, instance, "test", partition_window=window, out=out)
    return {o.asset: o for o in outcomes}, out.getvalue()


def test_every_asset_runs_upstream_partitions_first_and_checks_are_counted():
    outcomes, progress = _outcomes()
    assert outcomes["daily"].status == "materialized"
    assert outcomes["daily"].partitions == 10  # every partition in one single-run backfill
    assert outcomes["daily"].rows == sum(range(1, 11))  # moved, over the partitions
    assert outcomes["daily"].table_rows == 55  # the table's rows after the run: its last materialization's
    assert (outcomes["summary"].rows, outcomes["summary"].table_rows) == (1, 1)  # rebuilt whole
    assert outcomes["summary"].status == "materialized"
    assert (outcomes["summary"].checks_passed, outcomes["summary"].checks_failed) == (1, 1)
    assert outcomes["summary"].failed_checks == ["summary_is_wrong"]
    assert outcomes["summary"].warned_checks == ["summary_is_stale"]  # WARN: reported, not fatal
    why = "expected the newest row is at most a day old; found age_hours=30"
    assert outcomes["summary"].check_reasons["summary_is_stale"] == why
    assert f"  check warned summary: summary_is_stale: {why}" in progress.splitlines()
    assert outcomes["summary"].files == {"report_path": "/tmp/summary.html"}
    assert outcomes["summary"].step == "summary"  # the step whose seconds these are
    assert outcomes["broken"].status == "failed"
    assert "FAILED broken" in progress and "this asset always fails" in progress
    assert progress.index("partitions 2026-01-01 .. 2026-01-10") < progress.index("ok  summary")


def test_a_failure_prints_the_platforms_message_first_then_where_the_full_log_is():
    outcomes, progress = _outcomes()
    assert outcomes["source_down"].status == "failed"
    line = next(x for x in progress.splitlines() if x.startswith("  FAILED source_down"))
    assert line == "  FAILED source_down: source database at 127.0.0.1:1 unreachable: check that it runs"
    after = progress[progress.index(line) + len(line) :]
    assert "raw driver log line 1" in after  # the cause follows, after the platform's message
    assert after.index("full log: run ") < after.index("raw driver log line 1")


def test_an_asset_whose_input_is_loaded_already_is_reported_unchanged_not_failed():
    outcomes, progress = _outcomes()
    unchanged = outcomes["already_loaded"]
    assert (unchanged.status, unchanged.unchanged_partitions, unchanged.ok) == ("unchanged", 3, True)
    assert "skip already_loaded: 3 partition(s) unchanged since loaded" in progress


def test_partition_window_limits_the_backfill():
    outcomes, _ = _outcomes(window=("2026-01-03", "2026-01-05"))
    assert outcomes["daily"].partitions == 3
    assert outcomes["daily"].rows == 3 + 4 + 5


def test_main_reports_failure_with_exit_code_and_json(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    report = tmp_path / "report.json"
    assert main(["--module", "runner_defs", "--report", str(report)]) == 1
    rows = {r["asset"]: r for r in json.loads(report.read_text())}
    assert rows["broken"]["status"] == "failed"
    assert rows["daily"]["partitions"] == 10


def test_a_warning_does_not_make_an_asset_unfit():
    warned = AssetOutcome("a", "test", status="materialized", checks_warned=1, warned_checks=["freshness"])
    assert warned.ok
    assert not AssetOutcome("a", "test", status="materialized", checks_failed=1).ok
    assert not AssetOutcome("a", "test", status="failed").ok


def test_unfinished_runs_are_marked_canceled_and_finished_ones_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as instance:
        # (a QUEUED run needs a code location's origin: the demo's UI test covers those)
        queued = instance.create_run_for_job(
            dg.GraphDefinition("g").to_job(), status=dg.DagsterRunStatus.NOT_STARTED
        )
        started = instance.create_run_for_job(
            dg.GraphDefinition("h").to_job(), status=dg.DagsterRunStatus.STARTED
        )
        done = instance.create_run_for_job(
            dg.GraphDefinition("i").to_job(), status=dg.DagsterRunStatus.SUCCESS
        )
    assert main(["--cancel-unfinished", "the demo stopped"]) == 0
    with dg.DagsterInstance.get() as instance:
        status = {r.run_id: r.status for r in instance.get_runs()}
    assert status[queued.run_id] == status[started.run_id] == dg.DagsterRunStatus.CANCELED
    assert status[done.run_id] == dg.DagsterRunStatus.SUCCESS


def test_a_sensed_group_runs_only_missing_partitions_and_those_its_sensor_requests():
    import sensed_defs

    defs = load_definitions("sensed_defs")

    def run(requested: set[str], window=None):
        sensed_defs.REQUESTED.clear()
        sensed_defs.REQUESTED.update(requested)
        out = io.StringIO()
        (outcome,) = materialize_all(defs, instance, "test", partition_window=window, out=out)
        materialized = [r for r in instance.get_runs() if r.run_id not in seen]
        seen.update(r.run_id for r in materialized)
        return outcome, materialized, out.getvalue()

    seen: set[str] = set()
    with dg.DagsterInstance.ephemeral() as instance:
        first, runs, _ = run(set(), window=("2026-01-01", "2026-01-09"))
        assert (first.status, first.partitions, len(runs)) == ("materialized", 9, 1)  # all missing: all run
        quiet, runs, progress = run(set(), window=("2026-01-01", "2026-01-09"))
        assert (quiet.status, runs) == ("unchanged", [])  # nothing new: no run at all
        assert "the sensor new_days finds no new or changed source" in quiet.reason in progress
        changed, runs, _ = run({"2026-01-04"}, window=("2026-01-01", "2026-01-09"))
        assert (changed.status, changed.partitions, len(runs)) == ("materialized", 1, 1)
        assert runs[0].tags["dagster/asset_partition_range_start"] == "2026-01-04"
        wider, runs, _ = run(set(), window=("2026-01-01", "2026-01-10"))  # the window gains a day
        assert (wider.partitions, runs[0].tags["dagster/asset_partition_range_start"]) == (1, "2026-01-10")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_live_line_shows_the_running_step_under_the_progress_lines(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")  # rich draws nothing live on a dumb terminal
    out = _Terminal()
    defs = load_definitions("runner_defs")
    with dg.DagsterInstance.ephemeral() as instance:
        outcomes = {o.asset: o for o in materialize_all(defs, instance, "test", out=out)}
    text = out.getvalue()
    assert "running: daily 0s" in text  # drawn as the step starts (rich's live display)
    assert "ok  summary" in text and "FAILED broken" in text  # the progress lines are all still there
    assert outcomes["daily"].rows == sum(range(1, 11))


def test_without_a_terminal_no_live_line_is_drawn():
    _, progress = _outcomes()
    assert "running:" not in progress and "\x1b[" not in progress
