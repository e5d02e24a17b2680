"""The whole test suite's wall time: the README's test command in a fresh clone of this repository.

    uv run --locked python bench/suite_wall.py [--command "nox"] [--json bench/results/suite.json]

`git clone` of the committed HEAD into a temporary folder (a clean checkout: no venv, no .nox, no state; the
uv cache is the machine's, warm), then `uv run --locked nox` there, timed from start to exit, with the peak
RSS of its process tree. `--command "nox -l"` checks the clone and the command line in seconds. The clone is
deleted afterwards (`--keep` keeps it). A failing suite is reported (exit code, log tail), not raised.
"""

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import PeakRss, report, table, target  # noqa: E402
from repo import ROOT, UV, uv_env  # noqa: E402

TARGET_S = 600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", default="nox", help="what `uv run --locked` runs in the clone")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    clone, log = tmp / "repo", tmp / "suite.log"
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        command = [UV, "run", "--locked", *shlex.split(args.command)]
        print(f"in a fresh clone of {commit[:12]} ({clone}): {shlex.join(command)}", flush=True)
        with log.open("w") as out, PeakRss() as rss:
            started = time.perf_counter()
            rc = subprocess.run(
                command, cwd=clone, env=uv_env(), stdout=out, stderr=subprocess.STDOUT
            ).returncode
            seconds = time.perf_counter() - started
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print("\n".join(tail))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    raw = {"commit": commit, "command": shlex.join(["uv", "run", "--locked", *shlex.split(args.command)]),
           "seconds": seconds, "exit_code": rc, "peak_mib": rss.peak_mib, "log_tail": tail}  # fmt: skip
    outcome = "passed" if rc == 0 else f"FAILED (exit code {rc})"
    rows = [[f"`{raw['command']}`", commit[:12], f"{seconds:.0f} s ({seconds / 60:.1f} min)", outcome,
             f"{rss.peak_mib:.0f}"]]  # fmt: skip
    columns = ["command (in a fresh clone)", "commit", "wall time", "outcome", "peak MiB (process tree)"]
    measured = f"{seconds / 60:.1f} min, {outcome}"
    met = rc == 0 and seconds < TARGET_S if args.command == "nox" else None  # another command: a dry run
    targets = [target("test suite < 10 minutes (fresh clone, warm uv cache)", measured, met)]
    report("suite", args.json, sizes=[], repeat=1, raw=raw,
           tables=[table("One run, fresh clone, warm uv cache", columns, rows)], targets=targets)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
