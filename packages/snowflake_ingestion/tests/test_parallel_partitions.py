"""Partitions of the file load launched as separate runs in parallel OS processes against one Dagster instance
(SQLite storage, which supports concurrency pools).

- With the `warehouse` pool limited to 1, runs that queue behind a busy warehouse take turns: first in, first
  served, one load step at a time.
- Dagster's pool does not serialize steps that claim the free slot at the same moment: in dagster 1.13's SQL
  event-log storage, "is a slot free" and "take it" are separate statements (separate transactions, on SQLite
  and on PostgreSQL), and two of four runs started at once have both taken the one slot (CI, stop 12: their
  load steps started 9 ms apart). The guarantee that holds anyway is DuckDB's: one writer per file, which the
  warehouse resource waits for. The control below starts four writers at once with no pool at all and checks
  that every partition is loaded exactly.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from files_support import data_lines, partition_counts

DAYS = ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
STEP = "raw_files__sales"
POOL = "warehouse"
RANGE_START = "dagster/asset_partition_range_start"
CHILD = """
import sys, time
from pathlib import Path
import dagster as dg
from files_support import file_defs, run_range

day, barrier = sys.argv[1], Path(sys.argv[2])
with file_defs() as defs:
    defs.resolve_job_def("load_raw_files__sales")  # build everything before the start line
    (barrier / f"ready-{day}").touch()
    while not (barrier / f"go-{day}").exists():
        time.sleep(0.01)
    result = run_range(defs, day, instance=dg.DagsterInstance.get())
sys.exit(0 if result.success else 1)
"""


def _launch_in_parallel(home: Path, barrier: Path, release=None) -> list[subprocess.CompletedProcess]:
    """Start one run per day in its own process. `release(procs)` lets them go (default: all at one moment)."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(Path(__file__).parent)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, day, str(barrier)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for day in DAYS
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while len(list(barrier.glob("ready-*"))) < len(DAYS):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), (
                "children did not start"
            )
            time.sleep(0.05)
        if release is None:
            for day in DAYS:
                (barrier / f"go-{day}").touch()
        else:
            release(procs)
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:  # a failed start or release must not leave runs waiting at the start line forever
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return [
        subprocess.CompletedProcess(p.args, p.returncode, out) for p, out in zip(procs, outputs, strict=True)
    ]


def _step_intervals(home: Path) -> dict[str, tuple[float, float, str]]:
    """Per run: (load step started, load step ended, run status) from the instance's event log."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        out = {}
        for run in instance.get_runs():
            times = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if (
                    event
                    and event.step_key == STEP
                    and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")
                ):
                    times[event.event_type_value] = entry.timestamp
            end = times.get("STEP_SUCCESS", times.get("STEP_FAILURE"))
            out[run.tags[RANGE_START]] = (
                times["STEP_START"],
                end,
                run.status.value,
            )
        return out


def _overlaps(intervals) -> list[tuple[str, str]]:
    items = sorted(intervals.items(), key=lambda kv: kv[1][0])
    return [(a, b) for i, (a, (s1, e1, _)) in enumerate(items) for b, (s2, _, _) in items[i + 1 :] if s2 < e1]


def _home(tmp_path: Path, name: str, limit: int | None) -> Path:
    home = tmp_path / name
    home.mkdir()
    pools = f"concurrency:\n  pools:\n    default_limit: {limit}\n" if limit else ""
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + pools)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs()  # creates and migrates the SQLite storage once, not in four processes at a time
    return home


def _assert_every_run_loaded_its_day(done, intervals, platform_env, landing_folder) -> None:
    """Every run succeeded, its load step too, and each day's partition holds exactly its file's rows."""
    assert all(p.returncode == 0 for p in done), "\n".join(p.stdout[-3000:] for p in done if p.returncode)
    assert sorted(intervals) == DAYS
    assert {status for _, _, status in intervals.values()} == {"SUCCESS"}
    expected = {d: data_lines(landing_folder / "sales" / f"{d}.csv") for d in DAYS}
    assert partition_counts(platform_env) == expected


def _queued_in_pool(instance: dg.DagsterInstance, day: str) -> bool:
    """The day's run has put its load step in the pool's queue and is waiting (not assigned the slot)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RANGE_START: day}))
    if not runs:
        return False
    pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
    return any(s.run_id == runs[0].run_id and s.assigned_timestamp is None for s in pending)


def test_parallel_partition_runs_take_turns_in_the_warehouse_pool(platform_env, landing_folder, tmp_path):
    """The test holds the pool's only slot (as a long replication would), starts the four runs one after the
    other, each once the previous one waits in the queue, then frees the slot: the runs' load steps run one at a
    time, in the order they queued, and all succeed."""
    home, barrier = _home(tmp_path, "pooled", limit=1), tmp_path / "barrier-pooled"
    barrier.mkdir()
    holder = ("test-holds-the-warehouse", "long_replication")
    queued_order = list(reversed(DAYS))  # not the days' order: the queue's order must decide

    def release(procs):
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            storage = instance.event_log_storage
            storage.initialize_concurrency_limit_to_default(POOL)
            assert storage.claim_concurrency_slot(POOL, *holder).is_claimed
            for day in queued_order:
                (barrier / f"go-{day}").touch()
                deadline = time.monotonic() + 120
                while not _queued_in_pool(instance, day):
                    assert time.monotonic() < deadline, f"the run for {day} never queued in the pool"
                    assert all(p.poll() is None for p in procs), "a run ended while the slot was held"
                    time.sleep(0.05)
            storage.free_concurrency_slot_for_step(*holder)

    started = time.monotonic()
    done = _launch_in_parallel(home, barrier, release)
    elapsed = time.monotonic() - started
    intervals = _step_intervals(home)
    _assert_every_run_loaded_its_day(done, intervals, platform_env, landing_folder)
    assert _overlaps(intervals) == [], intervals  # one writer at a time
    first_in_first_out = sorted(intervals, key=lambda day: intervals[day][0]) == queued_order
    assert first_in_first_out, intervals
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert (info.slot_count, info.claimed_slots, info.pending_steps) == (1, [], [])
    print(f"4 queued runs, pool limit 1: {elapsed:.1f}s, steps {sorted(intervals.values())}")


def test_without_the_pool_limit_the_same_launch_writes_concurrently(platform_env, landing_folder, tmp_path):
    """The control: the serialization above comes from the pool. Without a limit the four load steps run at
    the same time on one DuckDB file; they contend for its lock, the warehouse resource waits for it, and every
    partition is loaded exactly: DuckDB's one writer per file is the guarantee, the pool the scheduling."""
    home, barrier = _home(tmp_path, "unpooled", limit=None), tmp_path / "barrier-unpooled"
    barrier.mkdir()
    done = _launch_in_parallel(home, barrier)
    intervals = _step_intervals(home)
    assert sorted(intervals) == DAYS
    assert _overlaps(intervals), intervals
    _assert_every_run_loaded_its_day(done, intervals, platform_env, landing_folder)
    print("without the pool:", {d: s for d, (_, _, s) in intervals.items()}, [p.returncode for p in done])
