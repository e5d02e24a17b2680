"""Materialize every asset of one code location in dependency order and run every asset check.

Used by the demo (once per code location, inside that location's own venv): it prints progress while the
run goes, then writes a JSON report (asset, rows, checks passed/failed, seconds) for the summary table.
Runs are recorded in the Dagster instance of `DAGSTER_HOME`, so `dg dev` afterwards shows them.

    dataplat-materialize --module dataplat_local_ingestion.definitions --report report.json
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg

from dataplat_core.observability import ROW_COUNT, ROWS_LOADED, UNCHANGED_PARTITIONS, explain_step_error

# Where a materialization reports the rows its run moved: the platform's load metadata, then dagster-sling's
# own key; an asset rebuilt whole (a mart) moved all its rows, its `dagster/row_count`.
ROWS_MOVED_KEYS = (ROWS_LOADED, "row_count", ROW_COUNT)


@dataclass
class AssetOutcome:
    asset: str
    location: str
    # materialized | unchanged (its inputs were loaded already) | skipped (its automation condition is false:
    # `reason` says why) | failed | not run
    status: str = "not run"
    reason: str = ""
    rows: int | None = None  # moved by the run (summed over its partitions)
    table_rows: int | None = None  # what the asset's table holds after the run (`dagster/row_count`)
    seconds: float = 0.0  # of the step that materialized it: one step can materialize several assets
    step: str = ""
    partitions: int = 0
    checks_passed: int = 0
    checks_failed: int = 0  # failed with severity ERROR: the asset is not fit for use
    checks_warned: int = 0  # failed with severity WARN (e.g. stale sandbox data): reported, not fatal
    failed_checks: list[str] = field(default_factory=list)
    warned_checks: list[str] = field(default_factory=list)
    # A warned or failed check's name -> why: what it checks and what it found ("newest=..., age_hours=...").
    check_reasons: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path metadata (e.g. a report) of the last run
    unchanged_partitions: int = 0  # partitions not loaded again: what they would load is loaded already

    @property
    def ok(self) -> bool:
        return self.status in ("materialized", "unchanged", "skipped") and self.checks_failed == 0


def load_definitions(module_name: str, attribute: str = "defs") -> dg.Definitions:
    """The code location's definitions, built exactly as Dagster builds them (lazy `@dg.definitions` too)."""
    obj = getattr(importlib.import_module(module_name), attribute)
    if isinstance(obj, dg.Definitions):
        return obj
    return obj()  # dg.definitions-decorated function


def failure_text(step: str, error, run_id: str, fallback: str) -> str:
    """A failed step as the platform explains it: the first error in the chain that is not Dagster's wrapper
    (a component's `dg.Failure` names the problem and the fix), where the full log is, and the first line
    of the underlying cause when that is a different error (a driver's or a tool's raw output)."""
    explained = explain_step_error(error)
    if explained is None:
        return f"  FAILED {step}: {fallback}"
    own, root = explained
    home = os.environ.get("DAGSTER_HOME")
    where = (
        f"the Dagster instance in {home} (`dg dev`, Runs page)"
        if home
        else "this process's ephemeral instance"
    )
    lines = [f"  FAILED {step}: {own}", f"    full log: run {run_id} in {where}"]
    if root:
        lines.append(f"    cause: {root}")
    return "\n".join(lines)


def _moved_nothing(mat: dg.AssetMaterialization) -> bool:
    """An unpartitioned load's materialization (the uniform load metadata) that loaded no row."""
    loaded = mat.metadata.get(ROWS_LOADED)
    return mat.partition is None and loaded is not None and int(loaded.value or 0) == 0


def _table_rows(mat: dg.AssetMaterialization, earlier: int | None) -> int | None:
    value = mat.metadata.get(ROW_COUNT)
    return earlier if value is None else int(value.value)


class _RunningSteps:
    """On a terminal, one live line under the progress lines: the steps running now and their seconds so far
    (a Sling replication or a backfill can take minutes with nothing else printed). Drawn by rich; elsewhere
    (a pipe, CI) nothing is drawn and the progress lines are printed as they are."""

    def __init__(self, out):
        self.started: dict[str, float] = {}
        self._live = None
        if getattr(out, "isatty", lambda: False)():
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                get_renderable=self._render, console=Console(file=out), refresh_per_second=2, transient=True
            )

    def _render(self):
        from rich.text import Text

        now = time.monotonic()
        running = ", ".join(f"{step} {now - t:.0f}s" for step, t in self.started.items())
        return Text(f"  running: {running}" if running else "", style="dim")

    def print(self, text: str, out) -> None:
        if self._live is None:
            print(text, file=out, flush=True)
        else:
            self._live.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, step: str) -> None:
        self.started[step] = time.monotonic()
        if self._live is not None and not self._live.is_started:
            self._live.start(refresh=True)
        elif self._live is not None:
            self._live.refresh()

    def end(self, step: str) -> float | None:
        """The step's seconds since `start` (None for a step not seen starting)."""
        began = self.started.pop(step, None)
        if self._live is not None:
            self._live.refresh()
        return None if began is None else time.monotonic() - began

    def close(self) -> None:
        if self._live is not None and self._live.is_started:
            self._live.stop()


class _ProgressHandler(logging.Handler):
    """Collects step timings, materializations and check results as the run emits them, and prints progress."""

    def __init__(self, outcomes: dict[str, AssetOutcome], step_assets: dict[str, list[str]], out=sys.stdout):
        super().__init__()
        self.outcomes, self.step_assets, self.out = outcomes, step_assets, out
        self.running = _RunningSteps(out)

    def _print(self, text: str) -> None:
        self.running.print(text, self.out)

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            return
        kind, step = event.event_type_value, event.step_key
        if kind == "STEP_START":
            self.running.start(step)
            if step in self.step_assets:  # check-only steps report through their evaluations
                self._print(f"  ... {step}")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in self.running.started:
            seconds = self.running.end(step)
            for key in self.step_assets.get(step, []):
                self.outcomes[key].seconds = round(seconds, 2)
                self.outcomes[key].step = step
                if kind == "STEP_FAILURE" and self.outcomes[key].status != "materialized":
                    self.outcomes[key].status = "failed"
            if kind == "STEP_FAILURE":
                error = event.event_specific_data.error if event.event_specific_data else None
                run_id = getattr(record, "dagster_meta", {}).get("run_id", "?")
                self._print(failure_text(step, error, run_id, record.getMessage()))
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            outcome = self.outcomes.get(mat.asset_key.to_user_string())
            if outcome is not None and _moved_nothing(mat) and outcome.status == "not run":
                # A load that found nothing new: its data version is the previous load's (`table_version`).
                outcome.status, outcome.reason, outcome.rows = "unchanged", "nothing new in the source", 0
                outcome.table_rows = _table_rows(mat, outcome.table_rows)
                self._print(f"  skip {outcome.asset}: nothing new in the source")
            elif outcome is not None:
                first = outcome.status != "materialized"
                outcome.status, outcome.reason = "materialized", ""
                outcome.partitions += 1 if mat.partition else 0
                rows = next((mat.metadata[k] for k in ROWS_MOVED_KEYS if k in mat.metadata), None)
                if rows is not None:
                    # One materialization per partition: each reports its own partition's rows.
                    outcome.rows = (outcome.rows or 0) + int(rows.value) if mat.partition else int(rows.value)
                outcome.table_rows = _table_rows(mat, outcome.table_rows)
                outcome.files.update(
                    {k: str(v.value) for k, v in mat.metadata.items() if isinstance(v, dg.PathMetadataValue)}
                )
                if first:
                    self._print(f"  ok  {outcome.asset}")
        elif kind == "ASSET_OBSERVATION":
            observation = event.event_specific_data.asset_observation
            outcome = self.outcomes.get(observation.asset_key.to_user_string())
            unchanged = observation.metadata.get(UNCHANGED_PARTITIONS)
            if outcome is not None and unchanged is not None:
                outcome.unchanged_partitions += int(unchanged.value)
                if outcome.status == "not run":
                    outcome.status = "unchanged"
                self._print(
                    f"  skip {outcome.asset}: {int(unchanged.value)} partition(s) unchanged since loaded"
                )
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            outcome = self.outcomes.get(evaluation.asset_key.to_user_string())
            if outcome is None:
                return
            if evaluation.passed:
                outcome.checks_passed += 1
                return
            reason = _check_reason(evaluation)
            outcome.check_reasons[evaluation.check_name] = reason
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                outcome.checks_warned += 1
                outcome.warned_checks.append(evaluation.check_name)
                self._print(f"  check warned {outcome.asset}: {evaluation.check_name}: {reason}")
            else:
                outcome.checks_failed += 1
                outcome.failed_checks.append(evaluation.check_name)
                self._print(f"  CHECK FAILED {outcome.asset}: {evaluation.check_name}: {reason}")


def _check_reason(evaluation) -> str:
    """What a check expects (its description) and what it found (its metadata), on one line."""
    found = ", ".join(f"{key}={value.value}" for key, value in evaluation.metadata.items())
    expected = (evaluation.description or "").rstrip(".")
    return "; ".join(
        part for part in (expected and f"expected {expected}", found and f"found {found}") if part
    )


CURSOR_KEY = "dataplat/runner/automation_cursor/{location}"


class AutomationPlan:
    """Which of a location's assets with an automation condition to run: Dagster evaluates the declared
    conditions against the instance (`evaluate_automation_conditions`, the daemon's own evaluation) from the
    cursor this runner stored after its previous run of the location, so the runner materializes what the
    daemon's sensor would request, and says for every other asset why not.

    Without a stored cursor (a fresh instance) every asset runs: a condition's first evaluation has nothing to
    compare with and requests nothing. After a run without failures the conditions are evaluated once more, as
    the daemon's next tick would (the run's own materializations are then behind the cursor); what that asks
    for runs too, and the cursor is stored once nothing more is asked for. After a failure nothing is stored,
    so the change is evaluated again next time."""

    MAX_ROUNDS = 3

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, location: str, keys: list):
        self.defs, self.instance, self.keys = defs, instance, keys
        self.cursor_key = CURSOR_KEY.format(location=location)
        stored = instance.run_storage.get_cursor_values({self.cursor_key}).get(self.cursor_key)
        self.cursor = dg.deserialize_value(stored) if stored else None
        first = self.cursor is None
        requested = self.evaluate()
        self.skipped: dict[dg.AssetKey, str] = (
            {} if first else {key: reason for key, reason in self.reasons.items() if key not in requested}
        )

    def evaluate(self) -> set[dg.AssetKey]:
        """The assets the conditions request now; advances `cursor`, records `reasons` for the others."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=dg.AssetSelection.assets(*self.keys),
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        self.reasons = {r.key: _why_not(r) for r in result.results if r.key in self.keys}
        return {r.key for r in result.results if r.key in self.keys and not r.true_subset.is_empty}

    def commit(self) -> None:
        self.instance.run_storage.set_cursor_values({self.cursor_key: dg.serialize_value(self.cursor)})


def _why_not(result) -> str:
    """The reason an eager-style condition (`eager()`, `upstream_changed()`) did not request its asset."""
    true: dict[str, bool] = {}

    def walk(node) -> None:
        label = node.condition.get_label()
        if label:
            true[label] = true.get(label, False) or not node.true_subset.is_empty
        for child in node.child_results:
            walk(child)

    walk(result)
    if true.get("any_deps_missing"):
        return "an upstream asset was never materialized"
    if true.get("any_deps_in_progress"):
        return "an upstream asset is being materialized"
    return f"no upstream's data changed since its last materialization ({result.condition.get_label()})"


def _run_groups(graph, keys: list[dg.AssetKey]) -> list[tuple[object, list[dg.AssetKey]]]:
    """Assets grouped by partitions definition, groups ordered so that upstream groups run first."""
    groups: dict[object, list[dg.AssetKey]] = {}
    for key in keys:
        groups.setdefault(graph.get(key).partitions_def, []).append(key)
    group_of = {key: pdef for pdef, members in groups.items() for key in members}
    after: dict[object, set] = {pdef: set() for pdef in groups}
    for key in keys:
        for parent in graph.get(key).parent_keys:
            if parent in group_of and group_of[parent] != group_of[key]:
                after[group_of[key]].add(group_of[parent])
    ordered: list[object] = []
    while len(ordered) < len(groups):
        ready = [g for g in groups if g not in ordered and after[g] <= set(ordered)]
        if not ready:
            raise ValueError("assets with different partitions depend on each other in a cycle")
        ordered += ready
    return [(pdef, groups[pdef]) for pdef in ordered]


def _window_keys(pdef, window: tuple[str, str] | None) -> list[str]:
    keys = pdef.get_partition_keys()
    if window:
        keys = [k for k in keys if window[0] <= k[: len(window[0])] <= window[1]]
    if not keys:
        raise ValueError(f"no partitions of {pdef} inside {window}")
    return keys


def _sensor_requests(defs: dg.Definitions, instance, group: list[dg.AssetKey]) -> dict[str, set[str]] | None:
    """The partition keys the location's sensors that target `group` request now, by sensor (what the daemon
    would run on its next ticks; evaluated without a cursor, so every file is weighed against the record of
    what is loaded), or None when no sensor targets the group."""
    repo = defs.get_repository_def()
    requested: dict[str, set[str]] = {}
    for sensor in repo.sensor_defs:
        jobs = [repo.get_job(t.job_name) for t in sensor.targets] if sensor.has_jobs else []
        if not any(set(job.asset_layer.executable_asset_keys) & set(group) for job in jobs):
            continue
        with dg.build_sensor_context(
            instance=instance, definitions=defs, sensor_name=sensor.name, resources=defs.resources
        ) as context:
            # The sensor's notes on each file belong in the daemon's tick log, not in the runner's output.
            logging.disable(logging.INFO)
            try:
                data = sensor.evaluate_tick(context)
            finally:
                logging.disable(logging.NOTSET)
        requested[sensor.name] = {r.partition_key for r in data.run_requests or [] if r.partition_key}
    return requested or None


def _partitions_to_run(defs, instance, pdef, group, window) -> tuple[list[str], str]:
    """The window's partitions that a run of `group` should cover, and why. Where a sensor watches the group's
    source (e.g. the file sensor), that is the partitions never materialized plus those the sensor requests
    (new or changed files): an unchanged file is not even looked at again. Otherwise the whole window (each
    asset decides per partition itself)."""
    keys = _window_keys(pdef, window)
    by_sensor = _sensor_requests(defs, instance, group)
    if by_sensor is None:
        return keys, ""
    done = set(keys)
    for key in group:
        done &= set(instance.get_materialized_partitions(key))
    wanted = set().union(*by_sensor.values())
    todo = [k for k in keys if k not in done or k in wanted]
    names = ", ".join(sorted(by_sensor))
    return todo, f"every partition is loaded and the sensor {names} finds no new or changed source"


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    location: str,
    *,
    partition_window: tuple[str, str] | None = None,
    out=sys.stdout,
) -> list[AssetOutcome]:
    """One run per partitions definition (upstream first); a partitioned group runs over its range (within
    `partition_window`; narrowed by the group's sensor, see `_partitions_to_run`) in a single run, which needs
    the assets' `BackfillPolicy.single_run()`."""
    handler = _ProgressHandler({}, {}, out)
    say = handler._print  # above the live line, on a terminal

    @dg.logger
    def progress(_init_context):
        log = logging.Logger("dataplat.progress", level=logging.DEBUG)
        log.addHandler(handler)
        return log

    try:
        # The progress logger joins the definitions before anything resolves them: resolving a second, merged copy
        # builds the whole repository again (~0.5 s for a code location).
        defs = dg.Definitions.merge(defs, dg.Definitions(loggers={"progress": progress}))
        graph = defs.resolve_asset_graph()
        keys = sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())
        outcomes = handler.outcomes
        outcomes.update({k.to_user_string(): AssetOutcome(k.to_user_string(), location) for k in keys})
        automated = [k for k in keys if graph.get(k).automation_condition is not None]
        plan = AutomationPlan(defs, instance, location, automated) if automated else None
        for key, reason in (plan.skipped if plan else {}).items():
            outcome = outcomes[key.to_user_string()]
            outcome.status, outcome.reason = "skipped", reason
            say(f"  skip {outcome.asset}: {reason}")
        keys = [k for k in keys if plan is None or k not in plan.skipped]
        for assets_def in graph.assets_defs:
            if not assets_def.is_executable:  # external assets (source tables, other locations' assets)
                continue
            for key in assets_def.keys:
                handler.step_assets.setdefault(assets_def.node_def.name, []).append(key.to_user_string())
        _execute(defs, graph, keys, instance, partition_window, outcomes, say)
        if plan is not None and not keys:  # nothing ran: the first evaluation is the one to keep
            plan.commit()
            return list(outcomes.values())
        for _ in range(AutomationPlan.MAX_ROUNDS if plan is not None else 0):
            if not all(o.ok for o in outcomes.values()):
                break
            requested = sorted(plan.evaluate(), key=lambda k: k.to_user_string())
            if not requested:
                plan.commit()
                break
            say(f"  automation requests {len(requested)} more asset(s)")
            _execute(defs, graph, requested, instance, partition_window, outcomes, say)
        return list(outcomes.values())

    finally:
        handler.running.close()  # the live line, on a terminal


def _execute(defs, graph, keys, instance, partition_window, outcomes, say) -> None:
    for pdef, group in _run_groups(graph, keys):
        tags = {}
        if pdef is not None:
            todo, why_none = _partitions_to_run(defs, instance, pdef, group, partition_window)
            if not todo:
                for key in group:
                    outcome = outcomes[key.to_user_string()]
                    outcome.status, outcome.reason = "unchanged", why_none
                    say(f"  skip {outcome.asset}: {why_none}")
                continue
            first, last = todo[0], todo[-1]
            tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
            say(f"  partitions {first} .. {last} of {len(group)} asset(s), one run")
        job = defs.resolve_implicit_job_def_def_for_assets(group)
        job.execute_in_process(
            instance=instance,
            asset_selection=group,
            tags=tags,
            raise_on_error=False,
            run_config={"loggers": {"progress": {}}},
        )


UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def cancel_unfinished_runs(instance: dg.DagsterInstance, reason: str) -> list[str]:
    """Mark every run that is queued or in flight as canceled (their processes are gone: the demo stopped
    them), so that a daemon started later on this instance does not launch or wait for them again."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(UNFINISHED)))
    for run in runs:
        instance.report_run_canceled(run, message=reason)
    return [run.run_id for run in runs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", help="module holding the code location's `defs`")
    parser.add_argument(
        "--cancel-unfinished",
        metavar="REASON",
        help="instead: mark every queued or in-flight run of DAGSTER_HOME's instance canceled, with REASON",
    )
    parser.add_argument("--location", help="name shown in the report (default: the module's package)")
    parser.add_argument("--report", type=Path, help="write the outcomes as JSON here")
    parser.add_argument(
        "--partitions",
        nargs=2,
        metavar=("FIRST", "LAST"),
        help="only partitions whose key lies in [FIRST, LAST] (e.g. the sandbox's dates)",
    )
    args = parser.parse_args(argv)
    # Dagster warns about its own beta internals (code references, components): noise for a demo's reader.
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if args.cancel_unfinished:
        with dg.DagsterInstance.get() as instance:
            canceled = cancel_unfinished_runs(instance, args.cancel_unfinished)
        print(f"{len(canceled)} unfinished run(s) marked canceled" + "".join(f"\n  {r}" for r in canceled))
        return 0
    if not args.module:
        parser.error("--module is required (unless --cancel-unfinished)")
    location = args.location or args.module.split(".")[0]
    print(f"[{location}] loading definitions", flush=True)
    defs = load_definitions(args.module)
    # DAGSTER_HOME set: runs are recorded where `dg dev` finds them; unset: a throwaway instance.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        window = tuple(args.partitions) if args.partitions else None
        outcomes = materialize_all(defs, instance, location, partition_window=window)
    if args.report:
        args.report.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    # Everything is written and closed. Python's last garbage collection at exit walks every object Dagster, dlt
    # and the components made (~1 s after a run, measured); frozen objects are left to the OS instead.
    gc.freeze()
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
