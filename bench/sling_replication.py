"""PostgreSQL -> warehouse: the platform's Sling path vs the raw Sling CLI vs DuckDB's postgres scanner.

    uv run --locked --project packages/snowflake_ingestion python bench/sling_replication.py --rows 1000000 5000000

Sizes are SOURCE rows: the sandbox makes ~2.83 rows per order (customers, products, orders, order items),
so `--rows N` loads round(N / 2.83) orders and prints the exact row count. For each size, in one run: the
sandbox's PostgreSQL is loaded (kept in `.dataplat/bench/`, reused by the next run unless this run's
incremental changes are in it), then each method does a full load into its own fresh DuckDB file (repeated,
median), then +1% of orders are inserted/updated in the source and each Sling path runs incrementally, then
once more with no change (the platform path skips unchanged streams, `skip_unchanged_streams`).
Printed: rows/s, ratio to the raw Sling CLI (the baseline) and to the postgres scanner (the physical bound),
incremental time as % of full, and peak memory (summed RSS of each method's process tree: for the platform
path the run worker, Sling and the DuckDB CLI it drives); `--json` writes them for bench/run.py. A script, not a test: it prints figures and asserts nothing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from contextlib import ExitStack
from pathlib import Path

import benchlib
import dagster as dg
from benchlib import median, orders_for_rows, report, table, target
from dagster.components.testing import create_defs_folder_sandbox
from dataplat_core.binaries import configure_offline_binaries
from dataplat_core.resources import build_resources
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.postgres import SandboxPostgres
from dataplat_snowflake_ingestion.components import DatabaseReplicationComponent

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("customers", "products", "orders", "order_items")
# The local ingestion location's own replication: the benchmark measures what the platform runs.
REPLICATION = (ROOT / "deployments/locations/ingestion/defs/shop_replication/replication.yaml").read_text()


def timed(fn, *args) -> tuple[float, float]:
    # Every method runs in child processes and this Python process only waits for them: the peak is the
    # children's tree (Sling and the DuckDB CLI; the run worker, Sling and the CLI; the scanner's process).
    # The platform path and the scanner report their own time, without their interpreter's start-up.
    seconds, peak_mib, inner = benchlib.timed(fn, *args, children_only=True)
    return (inner if isinstance(inner, float) else seconds), peak_mib


def raw_sling(pg: SandboxPostgres, warehouse: Path, replication: Path) -> None:
    env = {**os.environ, "SOURCE_PG": pg.dsn("readonly"), "WAREHOUSE": f"duckdb://{warehouse}"}
    subprocess.run(
        [os.environ["SLING_BINARY"], "run", "-r", str(replication)], env=env, check=True, capture_output=True
    )


# The platform path as a run worker runs it: a process of its own that loads the component from YAML (as dg
# does) with the platform's resources and executes the replication step alone (the raw CLI runs no checks
# either; quiet logs: they cost time too). Measured in this harness process instead, the peak counted what
# the harness had accumulated (the sandbox's generated data, earlier runs): 1.2 GiB where a worker has 0.7.
PLATFORM_CHILD = """
import sys, time, warnings
from contextlib import ExitStack
from pathlib import Path
import dagster as dg
warnings.filterwarnings("ignore")
sys.path.insert(0, sys.argv[1])
from sling_replication import platform_defs
with ExitStack() as stack:
    defs = platform_defs(stack, Path(sys.argv[2]))
    job = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job(
        "replication_only", selection=dg.AssetSelection.all(include_sources=False).without_checks())]
    )).resolve_job_def("replication_only")
    started = time.perf_counter()
    result = job.execute_in_process(run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    assert result.success
    print(time.perf_counter() - started)
"""


def platform_sling(warehouse: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PLATFORM_CHILD, str(Path(__file__).parent), str(warehouse)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


SCANNER_CHILD = """
import sys, time
import duckdb
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.duckdb_warehouse import copy_from_postgres
started = time.perf_counter()
with duckdb.connect(sys.argv[2], config=duckdb_connection_config()) as conn:
    copy_from_postgres(conn, sys.argv[1], sys.argv[3].split(","))
print(time.perf_counter() - started)
"""


def postgres_scanner(pg: SandboxPostgres, warehouse: Path) -> float:
    """DuckDB's scanner in a child process, which times itself (run in this process, DuckDB's buffers stayed
    in it)."""
    out = subprocess.run(
        [sys.executable, "-c", SCANNER_CHILD, pg.dsn("readonly"), str(warehouse), ",".join(TABLES)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def source_rows(pg: SandboxPostgres) -> int:
    with pg.connect() as conn:
        return sum(conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in TABLES)


def platform_defs(stack: ExitStack, warehouse: Path) -> dg.Definitions:
    """The replication component loaded from YAML as dg does, plus the platform's resources."""
    os.environ["WAREHOUSE_DUCKDB_PATH"] = str(warehouse)
    sandbox = stack.enter_context(create_defs_folder_sandbox())
    path = sandbox.scaffold_component(
        DatabaseReplicationComponent,
        defs_yaml_contents={
            "type": "dataplat_snowflake_ingestion.components.DatabaseReplicationComponent",
            "attributes": {"replications": [{"path": "replication.yaml"}]},
        },
    )
    (path / "replication.yaml").write_text(REPLICATION)
    _, comp_defs = stack.enter_context(sandbox.load_component_and_build_defs(defs_path=path))
    return dg.Definitions.merge(comp_defs, dg.Definitions(resources=build_resources()))


def bench_size(rows_wanted: int, repeats: int, workdir: Path) -> dict:
    orders = orders_for_rows(rows_wanted)
    config = SandboxConfig(orders=orders)
    pg_dir = ROOT / ".dataplat" / "bench" / f"pg-{orders}"
    with SandboxPostgres(pg_dir) as pg:
        print(
            f"[{orders:,} orders] loading the sandbox's PostgreSQL (reused when already loaded)", flush=True
        )
        dirty = pg_dir.with_name(pg_dir.name + ".changed")  # an earlier run's incremental changes are in it
        if dirty.exists():
            with pg.connect() as conn:
                conn.execute("DROP TABLE IF EXISTS sandbox.meta")  # makes load() reload the data from scratch
        pg.load(config)
        dirty.unlink(missing_ok=True)
        rows = source_rows(pg)
        print(f"  {rows:,} source rows (customers, products, orders, order items)", flush=True)
        replication = workdir / "replication.yaml"
        replication.write_text(REPLICATION)
        os.environ.update(
            SOURCE_PG_HOST=pg.host,
            SOURCE_PG_PORT=str(pg.port),
            SOURCE_PG_USER=pg.readonly_user,
            SOURCE_PG_PASSWORD=pg.readonly_password,
            LANDING_URL=str(workdir),
            PAYMENTS_API_URL="http://127.0.0.1:9",
            PAYMENTS_API_TOKEN="unused",
            PLATFORM_ENV="local",
        )
        full: dict[str, list[tuple[float, float]]] = {"raw": [], "platform": [], "scanner": []}
        for rep in range(repeats):
            for method in full:
                wh = workdir / f"{method}-{rep}.duckdb"
                wh.unlink(missing_ok=True)
                if method == "raw":
                    full[method].append(timed(raw_sling, pg, wh, replication))
                elif method == "platform":
                    full[method].append(timed(platform_sling, wh))
                    if rep == 0:
                        incremental_wh = wh  # rep 0's warehouse takes the incremental runs
                else:
                    full[method].append(timed(postgres_scanner, pg, wh))
                print(f"  full {method:<9} rep {rep + 1}: {full[method][-1][0]:.1f}s", flush=True)
        # Incremental: +1% of orders changed (half new, half updated), then each Sling path again.
        incremental: dict[str, list[tuple[float, float]]] = {"raw": [], "platform": []}
        unchanged: dict[str, list[tuple[float, float]]] = {"raw": [], "platform": []}
        dirty.touch()
        for rep in range(repeats):
            pg.insert_orders(max(1, orders // 200))
            pg.update_orders(max(1, orders // 200))
            incremental["raw"].append(timed(raw_sling, pg, workdir / "raw-0.duckdb", replication))
            incremental["platform"].append(timed(platform_sling, incremental_wh))
            print(f"  incremental rep {rep + 1}: raw {incremental['raw'][-1][0]:.1f}s, "
                  f"platform {incremental['platform'][-1][0]:.1f}s", flush=True)  # fmt: skip
            # Nothing changed since: the platform path skips every stream without starting Sling.
            unchanged["raw"].append(timed(raw_sling, pg, workdir / "raw-0.duckdb", replication))
            unchanged["platform"].append(timed(platform_sling, incremental_wh))
            print(f"  no-change rep {rep + 1}: raw {unchanged['raw'][-1][0]:.1f}s, "
                  f"platform {unchanged['platform'][-1][0]:.1f}s", flush=True)  # fmt: skip
    seconds = {m: median(t for t, _ in runs) for m, runs in full.items()}
    inc = {m: median(t for t, _ in runs) for m, runs in incremental.items()}
    same = {m: median(t for t, _ in runs) for m, runs in unchanged.items()}
    return {
        "rows_requested": rows_wanted,
        "orders": orders,
        "source_rows": rows,
        "full_runs": full,
        "incremental_runs": incremental,
        "median_seconds": seconds,
        "incremental_median_seconds": inc,
        "ratio_to_raw": {m: seconds[m] / seconds["raw"] for m in seconds},
        "speed_vs_scanner": {m: seconds["scanner"] / seconds[m] for m in seconds},
        "incremental_pct_of_full": {m: 100 * inc[m] / seconds[m] for m in inc},
        "unchanged_runs": unchanged,
        "unchanged_median_seconds": same,
        "unchanged_pct_of_full": {m: 100 * same[m] / seconds[m] for m in same},
        "peak_mib": {
            m: max(p for _, p in full[m] + incremental.get(m, []) + unchanged.get(m, [])) for m in full
        },
    }


NAMES = {
    "raw": "raw Sling CLI (baseline)",
    "platform": "platform Sling component",
    "scanner": "DuckDB postgres scanner (physical bound)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000],
                        help=f"source rows; orders = round(rows / {benchlib.ROWS_PER_ORDER})")  # fmt: skip
    parser.add_argument("--repeats", "--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*currently in (beta|preview)")
    with tempfile.TemporaryDirectory(prefix="bench-sling-") as tmp:
        configure_offline_binaries(Path(tmp) / "state")
        sizes = [bench_size(rows, args.repeats, Path(tmp)) for rows in args.rows]
    tables, targets = [], []
    columns = ["method", "full load", "rows/s", "× raw CLI", "speed vs scanner", "incremental (% of full)",
               "no-change run (% of full)", "peak MiB"]  # fmt: skip
    for s in sizes:
        rows = []
        for m, name in NAMES.items():
            inc = s["incremental_median_seconds"].get(m)
            inc_text = f"{inc:.1f} s ({s['incremental_pct_of_full'][m]:.1f}%)" if inc is not None else "n/a"
            same = s["unchanged_median_seconds"].get(m)
            same_text = f"{same:.1f} s ({s['unchanged_pct_of_full'][m]:.1f}%)" if same is not None else "n/a"
            rows.append([name, f"{s['median_seconds'][m]:.1f} s", f"{s['source_rows'] / s['median_seconds'][m]:,.0f}",
                         f"{s['ratio_to_raw'][m]:.2f}", f"{s['speed_vs_scanner'][m]:.1%}", inc_text,
                         same_text, f"{s['peak_mib'][m]:.0f}"])  # fmt: skip
        title = (f"{s['source_rows']:,} source rows ({s['orders']:,} orders), median of {args.repeats} full "
                 f"load(s) each, then {args.repeats} incremental run(s) after +1% of orders inserted or updated, each followed "
                 f"by a run with no change")  # fmt: skip
        tables.append(table(title, columns, rows))
    big = sizes[-1]
    at = f"at {big['source_rows']:,} rows"
    targets = [
        target("Sling: platform path <= 1.15× the raw CLI", f"{big['ratio_to_raw']['platform']:.2f}× {at}",
               big["ratio_to_raw"]["platform"] <= 1.15),
        target("Sling: incremental <= 5% of a full load (platform path)",
               f"{big['incremental_pct_of_full']['platform']:.1f}% {at}", big["incremental_pct_of_full"]["platform"] <= 5),
        target("Sling: peak memory <= 1 GiB (platform path: run worker + Sling + the DuckDB CLI it drives)",
               f"{big['peak_mib']['platform']:.0f} MiB {at}", big["peak_mib"]["platform"] <= benchlib.GIB_MIB),
    ]  # fmt: skip
    report(
        "sling", args.json, sizes=args.rows, repeat=args.repeats, raw=sizes, tables=tables, targets=targets
    )


if __name__ == "__main__":
    main()
