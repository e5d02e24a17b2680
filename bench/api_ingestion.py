"""Benchmark: payments from the sandbox's payments API simulator into DuckDB through dlt, records per second.

    uv run --project packages/api_sources python bench/api_ingestion.py --payments 200000 1000000

For each volume the simulator runs in its own process (a separate service, as in production: it must not share
the client's GIL) and, in the same session:

1. baseline - the raw paging speed of the simulator: a bare `requests` loop over `/payments` (cursor pages of
   `--page-size`, JSON parsed), the ceiling any client can reach;
2. dlt merge - the production path: `payments_source` (rest_api, retrying session, pages as Arrow tables) with
   `merge` on `payment_id`, Parquet loader files, into a fresh DuckDB file;
3. dlt append - the same with `append`, to show what the merge costs.

Each measurement is repeated `--repeat` times; the table shows medians (min..max). A script, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TARGET = 50_000  # records/s on 2 cores


def _serve(orders: int, conn) -> None:
    from dataplat_sandbox.config import SandboxConfig
    from dataplat_sandbox.payments_api import PaymentsApiServer

    with PaymentsApiServer(SandboxConfig(orders=orders)) as api:
        conn.send((api.url, api.token, len(api.tables["/payments"].snapshot[1])))
        conn.recv()  # block until the parent says stop


def baseline(url: str, token: str, page_size: int) -> int:
    import orjson
    import requests

    session, rows, cursor = requests.Session(), 0, None
    session.headers["Authorization"] = f"Bearer {token}"
    while True:
        params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = orjson.loads(session.get(f"{url}/payments", params=params, timeout=60).content)
        rows += len(body["data"])
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def dlt_load(url: str, token: str, page_size: int, disposition: str, workdir: Path) -> int:
    import dlt
    from dataplat_api_sources.destination import make_pipeline
    from dataplat_api_sources.http import RetryingSession
    from dataplat_api_sources.source import ResourceSpec, payments_source

    spec = ResourceSpec("payments", disposition, ("payment_id",))  # type: ignore[arg-type]
    source = payments_source(
        base_url=url, token=token, resources=[spec], initial_value=datetime(2000, 1, 1, tzinfo=UTC),
        session=RetryingSession(), page_size=page_size,
    )  # fmt: skip
    pipeline = make_pipeline(
        "bench", dataset="payments_api", destination=dlt.destinations.duckdb(str(workdir / "warehouse.duckdb")),
        pipelines_dir=workdir / "dlt", window=None,
    )  # fmt: skip
    pipeline.run(source, loader_file_format="parquet")
    import duckdb

    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute("select count(*) from payments_api.payments").fetchone()[0]


def timed(fn, *args) -> tuple[float, int]:
    start = time.perf_counter()
    rows = fn(*args)
    return time.perf_counter() - start, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args(argv)
    # Import the client stack before any timing: the first load must not pay for module imports.
    import dataplat_api_sources.source  # noqa: F401
    import dlt.destinations  # noqa: F401
    import duckdb  # noqa: F401

    results = []
    for volume in args.payments:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(volume, child), daemon=True)
        t0 = time.perf_counter()
        server.start()
        url, token, served = parent.recv()
        print(
            f"[{volume:,}] simulator up with {served:,} payments in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        try:
            row = {"volume": served}
            for name in ("baseline", "merge", "append"):
                rates = []
                for i in range(args.repeat):
                    if name == "baseline":
                        seconds, rows = timed(baseline, url, token, args.page_size)
                    else:
                        with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
                            seconds, rows = timed(dlt_load, url, token, args.page_size, name, Path(tmp))
                    if rows != served:
                        raise SystemExit(f"{name}: loaded {rows} rows, the simulator serves {served}")
                    rates.append(rows / seconds)
                    print(
                        f"  {name:<8} run {i + 1}: {rows:,} rows in {seconds:.2f}s = {rows / seconds:,.0f}/s",
                        flush=True,
                    )
                row[name] = rates
            results.append(row)
        finally:
            parent.send("stop")
            server.join(timeout=30)

    print()
    print(f"{'payments':>10} | {'simulator paging (baseline)':>30} | {'dlt merge -> DuckDB':>26} | "
          f"{'dlt append -> DuckDB':>26} | {'merge/baseline':>14}")  # fmt: skip
    print("-" * 119)
    for row in results:
        cells = []
        for name in ("baseline", "merge", "append"):
            rates = row[name]
            cells.append(f"{statistics.median(rates):>9,.0f}/s ({min(rates):,.0f}..{max(rates):,.0f})")
        ratio = statistics.median(row["merge"]) / statistics.median(row["baseline"])
        print(f"{row['volume']:>10,} | {cells[0]:>30} | {cells[1]:>26} | {cells[2]:>26} | {ratio:>14.0%}")
    worst = min(statistics.median(r["merge"]) for r in results)
    verdict = "meets" if worst >= TARGET else "misses"
    print(
        f"\nmedian records/s, {args.repeat} runs each; slowest dlt merge median {worst:,.0f}/s {verdict} the {TARGET:,}/s target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
