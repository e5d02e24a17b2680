"""The demo's wall time, twice: the README's `python scripts/demo.py` on a fresh state, then again on it.

    uv run --locked python bench/demo_wall.py [--orders 20000 --days 90] [--json bench/results/demo.json]

Run 1 starts from an empty state folder (`--reset`: the sandbox's PostgreSQL is created and loaded, every
asset is materialized from nothing); run 2 reuses that state (the sandbox's data, the warehouse, the run
history: Sling's incremental streams move only what changed). The uv cache and the venvs are warm in both.
Each run is timed from start to exit, with the peak RSS of its process tree. A script, not a test.
"""

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import PeakRss, report, table, target  # noqa: E402
from repo import ROOT  # noqa: E402

TARGET_S = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="the demo's default size")
    parser.add_argument("--days", type=int, default=90, help="the demo's default days")
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args()
    raw = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        base = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--state-dir", str(Path(tmp) / "demo"),
                "--orders", str(args.orders), "--days", str(args.days)]  # fmt: skip
        for label, flags in (("1: fresh state (--reset)", ["--reset"]), ("2: warm (state reused)", [])):
            with PeakRss() as rss:
                started = time.perf_counter()
                proc = subprocess.run(base + flags, cwd=ROOT, capture_output=True, text=True)
                seconds = time.perf_counter() - started
            print(f"  run {label}: {seconds:.1f}s, exit code {proc.returncode}", flush=True)
            if proc.returncode:
                print((proc.stdout + proc.stderr)[-3000:])
            raw.append({"run": label, "command": shlex.join(["python", "scripts/demo.py", *base[2:], *flags]),
                        "seconds": seconds, "exit_code": proc.returncode, "peak_mib": rss.peak_mib})  # fmt: skip
    rows = [[r["run"], f"{r['seconds']:.1f} s", "passed" if r["exit_code"] == 0 else f"FAILED ({r['exit_code']})",
             f"{r['peak_mib']:.0f}"] for r in raw]  # fmt: skip
    warm = raw[1]
    targets = [target("demo < 60 s with a warm cache (second run)", f"{warm['seconds']:.1f} s",
                      warm["exit_code"] == 0 and warm["seconds"] < TARGET_S)]  # fmt: skip
    title = f"`--orders {args.orders} --days {args.days}` (the README's defaults), one run each"
    report("demo", args.json, sizes=[args.orders], repeat=1, raw=raw,
           tables=[table(title, ["run", "wall time", "outcome", "peak MiB (process tree)"], rows)], targets=targets)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
