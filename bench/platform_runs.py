"""The platform's figure (issue #14): a full run, an incremental run and a no-change run of every asset of both
local code locations, the incremental and no-change runs as % of the full run, measured in one invocation.

    uv run --locked python bench/platform_runs.py [--orders 1000000] [--days 90] [--json bench/results/platform.json]

The demo's own machinery (scripts/demo.py: the sandbox, then `dataplat-materialize` per code location in its
venv, upstream location first) on a fresh state folder:

1. full: every asset from nothing, the landing files of the first `days - 1` days (the last day's file is held
   back);
2. no change: the same again, nothing new anywhere;
3. incremental: the held-back file lands (one new day) and +1% orders arrive in the source database (new orders
   with their lines), then every asset again over the `days` window;
4. no change once more (after the incremental run).

Each figure is the wall time of the materializations of both locations (the sandbox's start and data generation
are not in it). What each run did per asset (materialized, unchanged, skipped and why) is in the JSON.
A script, not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import PeakRss, report, table, target  # noqa: E402
from repo import ROOT, UV, uv_env  # noqa: E402

INCREMENTAL_TARGET, NO_CHANGE_TARGET = 0.10, 0.03


def _demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# +1% orders (new orders with their lines) in the running sandbox's PostgreSQL.
NEW_ORDERS = """
import sys
from pathlib import Path
from dataplat_sandbox.postgres import SandboxPostgres

pg = SandboxPostgres(Path(sys.argv[1])).start()  # running already: this only finds its port
print(len(pg.insert_orders(int(sys.argv[2]))))
"""


def _step_seconds(outcomes: list[dict]) -> dict[str, float]:
    """{step: seconds} of the steps a run executed (each asset's outcome repeats its step's time)."""
    return {o["step"]: o["seconds"] for o in outcomes if o["step"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args()
    demo = _demo()
    demo.install()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        sandbox, sandbox_env = demo.start_sandbox(state, args.orders, args.days)
        # The last day's file arrives before the incremental run (the sandbox wrote every day's file).
        new_day = demo.SANDBOX_START + timedelta(days=args.days - 1)
        landed = state / "sandbox" / "landing" / "sales" / f"{new_day}.csv"
        held = state / f"{new_day}.csv"
        landed.rename(held)
        try:
            env = demo.platform_env(state, sandbox_env)

            def measure(label: str, days: int) -> None:
                with PeakRss() as rss:
                    started = time.perf_counter()
                    outcomes = demo.materialize(state, env, days)
                    seconds = time.perf_counter() - started
                statuses: dict[str, int] = {}
                for o in outcomes:
                    statuses[o["status"]] = statuses.get(o["status"], 0) + 1
                failed = [o["asset"] for o in outcomes if o["status"] in ("failed", "not run")]
                runs.append({"run": label, "seconds": seconds, "peak_mib": rss.peak_mib, "statuses": statuses,
                             "failed": failed, "outcomes": outcomes})  # fmt: skip
                print(
                    f"  {label}: {seconds:.1f}s {statuses}" + (f" FAILED {failed}" if failed else ""),
                    flush=True,
                )

            measure("full", args.days - 1)
            measure("no change", args.days - 1)
            insert = [UV, "run", "--locked", "--quiet", "--project", demo.SANDBOX, "python", "-c", NEW_ORDERS,
                      str(state / "sandbox" / "postgres"), str(args.orders // 100)]  # fmt: skip
            subprocess.run(insert, cwd=ROOT, env=uv_env(), check=True)
            held.rename(landed)
            measure(f"incremental (+{args.orders // 100} orders, landing day {new_day})", args.days)
            measure("no change after the incremental run", args.days)
        finally:
            demo.shutdown(None, sandbox, None)
    full = runs[0]["seconds"]
    rows = [[r["run"], f"{r['seconds']:.1f} s", f"{100 * r['seconds'] / full:.1f} %",
             ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items())), f"{r['peak_mib']:.0f}"]
            for r in runs]  # fmt: skip
    # Where each run's time goes, step by step (a step can load several assets): the full run's slowest first.
    steps = [_step_seconds(r["outcomes"]) for r in runs]
    names = sorted(set().union(*steps), key=lambda s: -steps[0].get(s, 0.0))
    step_rows = [[name, *(f"{s[name]:.2f} s" if name in s else "-" for s in steps)] for name in names]
    ok = all(not r["failed"] for r in runs)
    incremental, quiet = runs[2]["seconds"] / full, runs[1]["seconds"] / full
    targets = [
        target("incremental run <= 10 % of the full run", f"{100 * incremental:.1f} %", ok and incremental <= INCREMENTAL_TARGET),
        target("no-change run <= 3 % of the full run", f"{100 * quiet:.1f} %", ok and quiet <= NO_CHANGE_TARGET),
    ]  # fmt: skip
    command = shlex.join(
        ["python", "bench/platform_runs.py", "--orders", str(args.orders), "--days", str(args.days)]
    )
    title = (f"{args.orders:,} orders; every asset of both local code locations (`dataplat-materialize` per "
             f"location, as the demo runs them); `{command}`")  # fmt: skip
    report("platform", args.json, sizes=[args.orders], repeat=1,
           raw=[{k: v for k, v in r.items()} for r in runs],
           tables=[table(title, ["run", "wall time", "% of full", "assets", "peak MiB (process tree)"], rows),
                   table("Steps (a step's own time; the rest of a run is starting the locations' processes, "
                         "creating the runs and evaluating sensors and automation conditions)",
                         ["step", *(r["run"] for r in runs)], step_rows)],
           targets=targets)  # fmt: skip
    if args.json:
        print(json.dumps([{k: r[k] for k in ("run", "seconds", "statuses")} for r in runs], indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
