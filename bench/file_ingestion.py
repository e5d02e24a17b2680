"""Benchmark: the file-ingestion component's DuckDB load path against DuckDB's bare CSV reader.

    uv run --locked --project packages/snowflake_ingestion python bench/file_ingestion.py --rows 1000000 5000000

For each size, one CSV of sales lines is generated with the sandbox's `write_sales_csv`, then measured in
the same run, each measurement in its own subprocess (peak RSS = VmHWM of that process: DuckDB runs in it),
timed from opening the database to closing it:

- baseline: `CREATE TABLE ... AS SELECT * FROM read_csv(..., columns={declared}, auto_detect=false)`, fresh file;
- component: `DuckDBFileLoader.load()` (the asset's code path), fresh file: header and line-count inspection,
  drift sampling, completeness, the file staged in a temporary table with rejects stored, the audits (keys
  within the file and against the table, reject rate, row count), then one transaction that deletes the
  partition and publishes the staged rows;
- incremental: after the component's full load, one more daily file holding 1% of the rows (the lines that
  follow the full file's, so its keys are new) loaded the same way into the same warehouse as a new
  partition (a new day and new lines per repetition).

Prints medians of `--repeat` runs, rows/s, the ratio to the baseline, incremental as % of the full load and
peak memory, with issue #9's targets; `--json` writes them for bench/run.py. A script, not a test.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from benchlib import median, report, table, target, vmhwm_mib
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


def child(method: str, csv: Path, db: Path, day: str) -> None:
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
    else:  # component (a fresh file) or incremental (one more daily partition into the loaded file)
        from dataplat_snowflake_ingestion.files.completeness import Completeness
        from dataplat_snowflake_ingestion.files.loader import DuckDBFileLoader
        from dataplat_snowflake_ingestion.files.model import FileSpec
        from dataplat_snowflake_ingestion.files.schema import validate_columns

        # The file was written before the measurement started: settled, no wait for the completeness rule.
        spec = FileSpec(
            "raw_files.sales", validate_columns(COLUMNS), ("order_id", "line_no"),
            completeness=Completeness(settle_seconds=0),
        )  # fmt: skip
        loader = DuckDBFileLoader(spec, lambda: closing(duckdb.connect(str(db))))
        started = time.perf_counter()
        result = loader.load(day, csv)
        seconds = time.perf_counter() - started
        rows = result.rows_loaded
        assert result.counts_match and result.rows_rejected == 0, result
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": vmhwm_mib()}))


def measure(method: str, csv: Path, db: Path, day: str = "2026-01-01") -> dict:
    if method != "incremental":  # a fresh database file
        for stale in (db, db.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--csv", str(csv), "--db", str(db), "--day", day],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def split(csv: Path, parts: list[tuple[Path, int]]) -> None:
    """The header, then `rows` consecutive lines of `csv` into each `(path, rows)` in turn (the sandbox's CSV
    has no quoted newlines)."""
    with csv.open() as src:
        header = src.readline()
        for out, rows in parts:
            with out.open("w") as dst:
                dst.write(header)
                for _ in range(rows):
                    dst.write(src.readline())


def bench_size(rows: int, repeat: int, workdir: Path) -> dict:
    source, csv = workdir / f"all_{rows}.csv", workdir / f"sales_{rows}.csv"
    started = time.perf_counter()
    daily_rows = max(1, rows // 100)
    generate(source, rows + daily_rows * repeat)
    days = [f"2026-01-{2 + i:02d}" for i in range(repeat)]
    dailies = [workdir / f"daily_{d}.csv" for d in days]
    split(source, [(csv, rows), *((d, daily_rows) for d in dailies)])
    source.unlink()
    print(f"generated {rows:,} rows ({csv.stat().st_size / 2**20:.0f} MiB) in "
          f"{time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
    runs = {}
    for method in ("baseline", "component"):
        runs[method] = [measure(method, csv, workdir / f"{method}.duckdb") for _ in range(repeat)]
        assert all(r["rows"] == rows for r in runs[method]), runs
        print(f"  {method:<11} runs: " + ", ".join(f"{r['seconds']:.2f}s" for r in runs[method]), flush=True)
    # Incremental: one more daily file of 1% of the rows, a new partition of the warehouse just loaded.
    runs["incremental"] = [
        measure("incremental", daily, workdir / "component.duckdb", d)
        for daily, d in zip(dailies, days, strict=True)
    ]
    print("  incremental runs: " + ", ".join(f"{r['seconds']:.2f}s" for r in runs["incremental"]), flush=True)
    for done in (csv, *dailies):
        done.unlink()
    seconds = {m: median(r["seconds"] for r in rs) for m, rs in runs.items()}
    return {
        "rows": rows,
        "incremental_rows": max(1, rows // 100),
        "runs": runs,
        "median_seconds": seconds,
        "rows_per_s": {m: rows / seconds[m] for m in ("baseline", "component")},
        "ratio_to_bare": seconds["baseline"] / seconds["component"],
        "incremental_pct_of_full": 100 * seconds["incremental"] / seconds["component"],
        "peak_mib": {m: max(r["peak_mib"] for r in rs) for m, rs in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, deleted afterwards")
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    parser.add_argument("--child", choices=["baseline", "component", "incremental"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.csv, args.db, args.day)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        sizes = [bench_size(rows, args.repeat, workdir) for rows in args.rows]
    rows = [
        [f"{s['rows']:,}", f"{s['rows_per_s']['baseline']:,.0f} rows/s", f"{s['rows_per_s']['component']:,.0f} rows/s",
         f"{s['ratio_to_bare']:.0%}", f"{s['median_seconds']['incremental']:.2f} s ({s['incremental_rows']:,} rows)",
         f"{s['incremental_pct_of_full']:.1f}%",
         " / ".join(f"{s['peak_mib'][m]:.0f}" for m in ("baseline", "component", "incremental"))]
        for s in sizes
    ]  # fmt: skip
    columns = ["rows", "bare `read_csv` (baseline)", "component load path", "component / bare",
               "incremental: +1% as a new daily partition", "incremental % of full",
               "peak MiB (bare / component / incremental)"]  # fmt: skip
    big = sizes[-1]
    targets = [
        target(f"files: >= 1M rows/s at {big['rows']:,} rows", f"{big['rows_per_s']['component']:,.0f} rows/s",
               big["rows_per_s"]["component"] >= TARGET_ROWS_PER_S),
        target("files: >= 45% of DuckDB's bare reader", f"{big['ratio_to_bare']:.0%}", big["ratio_to_bare"] >= TARGET_RATIO),
        target("files: incremental <= 5% of a full load", f"{big['incremental_pct_of_full']:.1f}%",
               big["incremental_pct_of_full"] <= 5),
        target(f"files: peak memory <= 1 GiB at {big['rows']:,} rows", f"{max(big['peak_mib'].values()):.0f} MiB",
               max(big["peak_mib"].values()) <= TARGET_PEAK_MIB),
    ]  # fmt: skip
    title = f"Median of {args.repeat} run(s) per method, each in a fresh process"
    report("files", args.json, sizes=args.rows, repeat=args.repeat, raw=sizes,
           tables=[table(title, columns, rows)], targets=targets)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
