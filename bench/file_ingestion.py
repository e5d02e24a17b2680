"""Benchmark: the file-ingestion component's DuckDB load path against DuckDB's bare CSV reader.

    uv run --project packages/snowflake_ingestion python bench/file_ingestion.py --rows 1000000 5000000

For each size, one CSV of sales lines is generated with the sandbox's `write_sales_csv`, then measured in
the same run, each measurement in its own subprocess (a fresh DuckDB file, peak RSS (VmHWM) of that process only; both timed from
opening the database to closing it):

- baseline: `CREATE TABLE ... AS SELECT * FROM read_csv(..., columns={declared}, auto_detect=false)`;
- component: `DuckDBFileLoader.load()` (the asset's code path): header and line-count inspection, drift
  sampling, then one transaction that deletes the partition and inserts the file with rejects stored.

Prints the median of `--repeat` runs, rows/s, the ratio to the baseline and peak memory, and checks the
targets (>= 1M rows/s at the largest size, >= 45 % of the baseline, peak < 1 GiB).
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from dataplat_sandbox.landing import SALES_COLUMN_TYPES

COLUMNS = SALES_COLUMN_TYPES  # the sandbox export's declared schema
TARGET_ROWS_PER_S, TARGET_RATIO, TARGET_PEAK_MIB = 1_000_000, 0.45, 1024


def generate(path: Path, rows: int) -> int:
    from dataplat_sandbox.config import SandboxConfig
    from dataplat_sandbox.landing import write_sales_csv

    # About 1.7 lines per order in the sandbox's data: ask for enough orders, then cut at `rows`.
    orders = int(rows / 1.5) + 1_000
    written = write_sales_csv(path, SandboxConfig(orders=orders), rows=rows)
    if written < rows:
        raise SystemExit(f"the sandbox produced only {written} lines for {orders} orders")
    return written


def child(method: str, csv: Path, db: Path) -> None:
    """One measurement in this process; prints JSON (seconds, rows, peak RSS)."""
    import duckdb

    if method == "baseline":
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS.items()) + "}"
        # Timed like the component: from opening the database to closing it (the checkpoint included).
        started = time.perf_counter()
        with closing(duckdb.connect(str(db))) as conn:
            conn.execute(
                f"create table sales as select * from read_csv(?, columns={columns}, header=true, "
                "auto_detect=false)",
                [str(csv)],
            )
        seconds = time.perf_counter() - started
        with closing(duckdb.connect(str(db), read_only=True)) as conn:
            rows = conn.execute("select count(*) from sales").fetchone()[0]
    else:
        from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
        from dataplat_snowflake_ingestion.files.model import FileSpec
        from dataplat_snowflake_ingestion.files.schema import validate_columns

        spec = FileSpec("raw_files.sales", validate_columns(COLUMNS), ("order_id", "line_no"))
        loader = DuckDBFileLoader(spec, lambda: closing(duckdb.connect(str(db))))
        started = time.perf_counter()
        result = loader.load("2026-01-01", csv)
        seconds = time.perf_counter() - started
        rows = result.rows_loaded
        assert result.counts_match and result.rows_rejected == 0, result
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_rss_kib() / 1024}))


def peak_rss_kib() -> int:
    """Peak resident memory of this process. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over
    fork and exec, so a child would report its (large) parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(method: str, csv: Path, workdir: Path) -> dict:
    db = workdir / f"{method}.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--csv", str(csv), "--db", str(db)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, deleted afterwards")
    parser.add_argument("--child", choices=["baseline", "component"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.csv, args.db)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        summary, ok = [], True
        for rows in args.rows:
            csv = workdir / f"sales_{rows}.csv"
            started = time.perf_counter()
            generate(csv, rows)
            size_mib = csv.stat().st_size / 2**20
            print(
                f"generated {rows:,} rows ({size_mib:.0f} MiB) in {time.perf_counter() - started:.1f}s",
                flush=True,
            )
            medians = {}
            for method in ("baseline", "component"):
                runs = [measure(method, csv, workdir) for _ in range(args.repeat)]
                assert all(r["rows"] == rows for r in runs), runs
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mib"] for r in runs)
                medians[method] = (seconds, peak)
                print(f"  {method:<9} runs: " + ", ".join(f"{r['seconds']:.2f}s" for r in runs), flush=True)
            base_s, comp_s = medians["baseline"][0], medians["component"][0]
            ratio = base_s / comp_s
            summary.append(
                (rows, rows / base_s, rows / comp_s, ratio, medians["baseline"][1], medians["component"][1])
            )
            csv.unlink()
        print()
        header = f"{'rows':>10}  {'baseline rows/s':>16}  {'component rows/s':>17}  {'ratio':>6}  {'peak MiB (b/c)':>15}"
        print(header)
        print("-" * len(header))
        for rows, base, comp, ratio, base_peak, comp_peak in summary:
            print(
                f"{rows:>10,}  {base:>16,.0f}  {comp:>17,.0f}  {ratio:>6.0%}  {base_peak:>7.0f}/{comp_peak:<7.0f}"
            )
        rows, _, comp, ratio, _, comp_peak = summary[-1]
        checks = [
            (f"component >= {TARGET_ROWS_PER_S:,} rows/s at {rows:,} rows", comp >= TARGET_ROWS_PER_S),
            (
                f"component >= {TARGET_RATIO:.0%} of the bare reader",
                all(s[3] >= TARGET_RATIO for s in summary),
            ),
            (f"peak memory < {TARGET_PEAK_MIB} MiB", all(s[5] < TARGET_PEAK_MIB for s in summary)),
        ]
        print()
        for text, passed in checks:
            print(f"{'PASS' if passed else 'FAIL'}  {text}")
            ok &= passed
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
