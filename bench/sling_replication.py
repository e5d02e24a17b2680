"""PostgreSQL -> warehouse: the platform's Sling path vs the raw Sling CLI vs DuckDB's postgres scanner.

    uv run --project packages/snowflake_ingestion python bench/sling_replication.py --orders 1000000 5000000

For each size, in one run: the sandbox's PostgreSQL is loaded (reused across runs: `.dataplat/bench/`), then
each method does a full load into its own fresh DuckDB file (repeated, median), then +1% of orders are
inserted/updated in the source and each Sling path runs incrementally. Printed: rows/s, ratio to the raw
Sling CLI (the baseline) and to the postgres scanner (the physical bound), incremental time as % of full,
and peak memory (RSS of the process tree). A script, not a test: it prints figures and asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import psutil
from dagster.components.testing import create_defs_folder_sandbox
from dataplat_core.binaries import configure_offline_binaries, duckdb_connection_config
from dataplat_core.resources import build_resources
from dataplat_core.warehouse import copy_from_postgres
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.postgres import SandboxPostgres
from dataplat_snowflake_ingestion.components import DatabaseReplicationComponent

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("customers", "products", "orders", "order_items")
# The local ingestion location's own replication: the benchmark measures what the platform runs.
REPLICATION = (
    ROOT / "deployments/local/ingestion/src/dataplat_local_ingestion/defs/shop_replication/replication.yaml"
).read_text()


class PeakRss:
    """Peak resident memory of this process and all its children while the block runs."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                procs = [me, *me.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timed(fn, *args) -> tuple[float, int]:
    with PeakRss() as rss:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start, rss.peak


def raw_sling(pg: SandboxPostgres, warehouse: Path, replication: Path) -> None:
    env = {**os.environ, "SHOP_PG": pg.dsn("readonly"), "WAREHOUSE": f"duckdb://{warehouse}"}
    subprocess.run(
        [os.environ["SLING_BINARY"], "run", "-r", str(replication)], env=env, check=True, capture_output=True
    )


def platform_sling(defs: dg.Definitions) -> None:
    # The replication step alone (the raw CLI runs no checks either); quiet logs: they cost time too.
    job = dg.Definitions.merge(
        defs,
        dg.Definitions(
            jobs=[
                dg.define_asset_job(
                    "replication_only",
                    selection=dg.AssetSelection.all(include_sources=False).without_checks(),
                )
            ]
        ),
    ).resolve_job_def("replication_only")
    result = job.execute_in_process(run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    assert result.success


def postgres_scanner(pg: SandboxPostgres, warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), config=duckdb_connection_config()) as conn:
        copy_from_postgres(conn, pg.dsn("readonly"), TABLES)


def source_rows(pg: SandboxPostgres) -> int:
    with pg.connect() as conn:
        return sum(conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in TABLES)


def bench_size(orders: int, repeats: int, workdir: Path) -> list[tuple]:
    config = SandboxConfig(orders=orders)
    pg_dir = ROOT / ".dataplat" / "bench" / f"pg-{orders}"
    rows_out = []
    with SandboxPostgres(pg_dir) as pg:
        print(
            f"[{orders:,} orders] loading the sandbox's PostgreSQL (reused when already loaded)", flush=True
        )
        pg.load(config)
        rows = source_rows(pg)
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
        results: dict[str, list[tuple[float, int]]] = {"raw": [], "platform": [], "scanner": []}
        warehouses = {}
        for rep in range(repeats):
            for method in results:
                wh = workdir / f"{method}-{rep}.duckdb"
                wh.unlink(missing_ok=True)
                if method == "raw":
                    results[method].append(timed(raw_sling, pg, wh, replication))
                elif method == "platform":
                    os.environ["WAREHOUSE_DUCKDB_PATH"] = str(wh)
                    with create_defs_folder_sandbox() as sandbox:
                        path = sandbox.scaffold_component(
                            DatabaseReplicationComponent,
                            defs_yaml_contents={
                                "type": "dataplat_snowflake_ingestion.components.DatabaseReplicationComponent",
                                "attributes": {"replications": [{"path": "replication.yaml"}]},
                            },
                        )
                        (path / "replication.yaml").write_text(REPLICATION)
                        with sandbox.load_component_and_build_defs(defs_path=path) as (_, comp_defs):
                            defs = dg.Definitions.merge(
                                comp_defs, dg.Definitions(resources=build_resources())
                            )
                            results[method].append(timed(platform_sling, defs))
                            warehouses.setdefault("platform_defs", defs)  # rep 0's warehouse
                else:
                    results[method].append(timed(postgres_scanner, pg, wh))
                print(f"  full {method:<9} rep {rep + 1}: {results[method][-1][0]:.1f}s", flush=True)
        full = {m: statistics.median(t for t, _ in r) for m, r in results.items()}
        peak = {m: max(p for _, p in r) for m, r in results.items()}
        # Incremental: +1% of orders changed (half new, half updated), then each Sling path again.
        incremental: dict[str, list[float]] = {"raw": [], "platform": []}
        for rep in range(repeats):
            pg.insert_orders(max(1, orders // 200))
            pg.update_orders(max(1, orders // 200))
            incremental["raw"].append(timed(raw_sling, pg, workdir / "raw-0.duckdb", replication)[0])
            incremental["platform"].append(timed(platform_sling, warehouses["platform_defs"])[0])
            print(
                f"  incremental rep {rep + 1}: raw {incremental['raw'][-1]:.1f}s, "
                f"platform {incremental['platform'][-1]:.1f}s",
                flush=True,
            )
        for method in ("raw", "platform", "scanner"):
            inc = statistics.median(incremental[method]) if method in incremental else None
            rows_out.append(
                (
                    orders,
                    rows,
                    method,
                    full[method],
                    rows / full[method],
                    full[method] / full["raw"],
                    full["scanner"] / full[method],
                    inc,
                    peak[method],
                )
            )
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure_offline_binaries()
    table = []
    with tempfile.TemporaryDirectory(prefix="bench-sling-") as tmp:
        for orders in args.orders:
            table += bench_size(orders, args.repeats, Path(tmp))
    names = {
        "raw": "raw Sling CLI (baseline)",
        "platform": "platform Sling component",
        "scanner": "DuckDB postgres scanner",
    }
    print()
    print(
        f"{'orders':>10} {'rows':>11} {'method':<26} {'full s':>7} {'rows/s':>10} {'x raw':>6} "
        f"{'% of scanner':>12} {'incr % full':>11} {'peak MiB':>9}"
    )
    for orders, rows, method, full, rate, vs_raw, vs_scanner, inc, peak in table:
        inc_text = f"{100 * inc / full:.1f}%" if inc is not None else "n/a"
        print(
            f"{orders:>10,} {rows:>11,} {names[method]:<26} {full:>7.1f} {rate:>10,.0f} {vs_raw:>6.2f} "
            f"{100 * vs_scanner:>11.1f}% {inc_text:>11} {peak / 2**20:>9.0f}"
        )


if __name__ == "__main__":
    main()
