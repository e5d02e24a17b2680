"""How long each code location takes to load its definitions, against `python -c "import dagster"`.

    uv run --locked python bench/code_locations.py [--repeats 5]

Each location's venv is synced from its lock with `--compile-bytecode`, as production images are built: this
machine sets PYTHONDONTWRITEBYTECODE=1, so without it a venv holds no .pyc and every interpreter recompiles
dagster from source (seconds of the figure). Each measurement is then a fresh interpreter from that venv,
timed from start to exit; the baseline is `import dagster` in the same venv, measured in the same run.
Loading builds the definitions exactly as a code server does (`@dg.definitions`), with placeholder
environment values: nothing connects anywhere at load time. A script, not a test.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import median, report, table, target  # noqa: E402
from repo import ROOT, UV, placeholder_env, uv_env  # noqa: E402

LOCATIONS = {
    "ingestion": ("deployments/local/ingestion", "dataplat_local_ingestion.definitions"),
    "analytics": ("deployments/local/analytics", "dataplat_local_analytics.definitions"),
}
TARGET_S = 2.0


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def pyc_share(venv: Path) -> float:
    """Share of dagster's modules that have a compiled .pyc next to them."""
    package = next((venv / "lib").glob("python3*/site-packages/dagster"))
    sources = list(package.rglob("*.py"))
    tag = sys.implementation.cache_tag
    compiled = sum((p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").exists() for p in sources)
    return compiled / len(sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", "--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args()
    env = uv_env(placeholder_env("local"))
    raw = []
    for name, (project, module) in LOCATIONS.items():
        subprocess.run([UV, "sync", "--locked", "--quiet", "--compile-bytecode", "--project", project],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        venv = ROOT / project / ".venv"
        python = str(venv / "bin" / "python")
        load = f"from dataplat_core.runner import load_definitions; load_definitions({module!r})"
        wall([python, "-c", load], env)  # warm the file-system cache once
        imports = [wall([python, "-c", "import dagster"], env) for _ in range(args.repeats)]
        loads = [wall([python, "-c", load], env) for _ in range(args.repeats)]
        raw.append({"location": name, "project": project, "import_dagster_s": imports, "load_s": loads,
                    "median_import_s": median(imports), "median_load_s": median(loads),
                    "dagster_pyc_share": pyc_share(venv)})  # fmt: skip
        print(f"  {name}: import dagster {median(imports):.2f}s, load {median(loads):.2f}s", flush=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: a load
    rows = [[r["location"], f"{r['median_import_s']:.2f} s", f"{r['median_load_s']:.2f} s",
             f"{r['median_load_s'] / r['median_import_s']:.2f}", f"{r['dagster_pyc_share']:.0%}"] for r in raw]  # fmt: skip
    title = (f"Median of {args.repeats} fresh interpreters each, venvs synced with `uv sync --compile-bytecode`; "
             f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')}; "
             f"largest process {peak:.0f} MiB")  # fmt: skip
    columns = [
        "location",
        "`import dagster`",
        "load definitions",
        "load / import",
        "dagster modules with .pyc",
    ]
    targets = [target(f"code location {r['location']}: loads in <= 2.0 s", f"{r['median_load_s']:.2f} s",
                      r["median_load_s"] <= TARGET_S) for r in raw]  # fmt: skip
    report("code_locations", args.json, sizes=[], repeat=args.repeats, raw=raw,
           tables=[table(title, columns, rows)], targets=targets)  # fmt: skip


if __name__ == "__main__":
    main()
