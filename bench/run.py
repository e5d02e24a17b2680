"""The benchmark suite's entry point (issue #9): runs each part in its own venv, then renders the doc.

    uv run --locked nox -s bench                                            # everything: 1M and 5M rows, 3 runs
    uv run --locked nox -s bench -- --sizes 100000 --repeat 1 --only files api   # a quick run
    uv run --locked python bench/run.py --render-only                       # docs/benchmarks.md from the JSONs

Each part is one script run as `uv run --locked --project <its package> python bench/<script>.py ...
--json bench/results/<part>.json`: it measures its path and its baseline in the same invocation, prints
its table and writes its JSON (command, date, machine, sizes, raw figures, medians, ratios, peaks, target
verdicts). Then docs/benchmarks.md is rendered from every JSON present (bench/render.py), so parts can be
re-run one at a time. A crashed part keeps its previous JSON and makes this exit non-zero; a missed target
is not a crash: the doc reports it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import orders_for_rows  # noqa: E402
from render import RESULTS, render  # noqa: E402
from repo import ROOT, UV, uv_env  # noqa: E402

DEFAULT_SIZES = [1_000_000, 5_000_000]


def part_args(part: str, sizes: list[int], repeat: int) -> tuple[str, str, list[str]]:
    """(project, script, arguments) of one part; sizes are rows (source rows for Sling, payments for the API)."""
    rows = [str(s) for s in sizes]
    return {
        "files": ("packages/snowflake_ingestion", "file_ingestion.py", ["--rows", *rows, "--repeat", str(repeat)]),
        "sling": ("packages/snowflake_ingestion", "sling_replication.py", ["--rows", *rows, "--repeats", str(repeat)]),
        "api": ("packages/api_sources", "api_ingestion.py", ["--payments", *rows, "--repeat", str(repeat)]),
        "code_locations": (".", "code_locations.py", ["--repeats", str(max(5, repeat))]),
        "ml": ("packages/ml_training", "ml_training.py", ["--orders", *(str(orders_for_rows(s)) for s in sizes)]),
        "suite": (".", "suite_wall.py", []),
        "demo": (".", "demo_wall.py", []),
        "platform": (".", "platform_runs.py", ["--orders", "1000000"]),  # issue #14: at 1M orders
    }[part]  # fmt: skip


PARTS = ["files", "sling", "api", "code_locations", "ml", "suite", "demo", "platform"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="rows (default 1M 5M)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per measurement (median)")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="these parts only (default: all)")
    parser.add_argument("--suite", action=argparse.BooleanOptionalAction, default=None,
                        help="time the whole test suite in a fresh clone (~10 min): default on in a full run "
                             "(no --only, default sizes), off otherwise")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print each part's command, run nothing")
    parser.add_argument("--render-only", action="store_true", help="only render docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.render_only:
        print(f"wrote {render()}")
        return 0
    full_run = args.only is None and args.sizes == DEFAULT_SIZES
    suite = args.suite if args.suite is not None else full_run or "suite" in (args.only or [])
    parts = [p for p in (args.only or PARTS) if p != "suite" or suite]
    crashed = []
    for part in parts:
        project, script, extra = part_args(part, args.sizes, args.repeat)
        tail = [
            "python",
            f"bench/{script}",
            *extra,
            "--json",
            str((RESULTS / f"{part}.json").relative_to(ROOT)),
        ]
        shown = shlex.join(["uv", "run", "--locked", "--project", project, *tail])
        print(f"\n=== {part}: {shown}", flush=True)
        if args.dry_run:
            continue
        started = time.perf_counter()
        rc = subprocess.run([UV, "run", "--locked", "--project", project, *tail], cwd=ROOT,
                            env=uv_env({"BENCH_COMMAND": shown})).returncode  # fmt: skip
        print(f"=== {part}: exit code {rc} after {time.perf_counter() - started:.0f}s", flush=True)
        if rc != 0:
            crashed.append(part)
    if args.dry_run:
        return 0
    print(f"\nwrote {render()}")
    if crashed:
        print(f"crashed (their previous results, if any, are kept): {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
