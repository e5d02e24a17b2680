"""How long each code location takes to load its definitions, against `python -c "import dagster"`.

    uv run --locked python bench/code_locations.py [--repeats 7]

Each measurement is a fresh interpreter from the location's own venv (synced from its lock first), timed
from start to exit; the baseline is `import dagster` in the same venv, measured in the same run. Loading
builds the definitions exactly as a code server does (`@dg.definitions`), with placeholder environment
values: nothing connects anywhere at load time. A script, not a test.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from repo import ROOT, UV, placeholder_env, uv_env  # noqa: E402

LOCATIONS = {
    "ingestion": ("deployments/local/ingestion", "dataplat_local_ingestion.definitions"),
    "analytics": ("deployments/local/analytics", "dataplat_local_analytics.definitions"),
}


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    env = uv_env(placeholder_env("local"))
    rows = []
    for name, (project, module) in LOCATIONS.items():
        subprocess.run(
            [UV, "sync", "--locked", "--quiet", "--project", project], cwd=ROOT, env=env, check=True
        )
        python = str(ROOT / project / ".venv" / "bin" / "python")
        load = f"from dataplat_core.runner import load_definitions; load_definitions({module!r})"
        wall([python, "-c", load], env)  # warm the file-system cache and bytecode once
        baseline = statistics.median(wall([python, "-c", "import dagster"], env) for _ in range(args.repeats))
        loaded = statistics.median(wall([python, "-c", load], env) for _ in range(args.repeats))
        rows.append((name, baseline, loaded))
    print(f"{'location':<10} {'import dagster s':>17} {'load definitions s':>19} {'ratio':>6}")
    for name, baseline, loaded in rows:
        print(f"{name:<10} {baseline:>17.2f} {loaded:>19.2f} {loaded / baseline:>6.2f}")


if __name__ == "__main__":
    main()
