"""Benchmark: payments from the sandbox's payments API simulator into DuckDB through dlt, records per second.

    uv run --locked --project packages/api_sources python bench/api_ingestion.py --payments 1000000 5000000

For each volume the simulator runs in its own process (a separate service, as in production: it must not share
the client's GIL) and, in the same session:

1. baseline - the raw paging speed of the simulator: a bare `requests` loop over `/payments` (cursor pages of
   `--page-size`, JSON parsed), the ceiling any client can reach;
2. dlt merge - the production path: the deployment's declaration of the payments API (its `payments` resource)
   through `declared_source` (rest_api, retrying session, pages as Arrow tables) with `merge` on `payment_id`,
   Parquet loader files, into a fresh DuckDB file;
3. dlt append - the same with `append`, to show what the merge costs;
4. incremental - 1% of the payments change in the simulator (`update_payments`: a new `updated_at`), then the
   last merge pipeline runs again: its dlt cursor asks only for `updated_since` its previous run.

Each measurement is repeated `--repeat` times; medians, incremental as % of the full merge, peak memory of
the client's process tree (not the simulator's); `--json` writes them for bench/run.py. A script, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import GIB_MIB, median, report, table, target, timed

TARGET = 50_000  # records/s on 2 cores
# What the local ingestion location declares: the bench loads the API the way the platform does.
DECLARATION = (
    Path(__file__).resolve().parents[1] / "deployments/locations/ingestion/defs/payments_api/defs.yaml"
)


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
    import yaml
    from dataplat_api_sources.declaration import ApiResource, Client
    from dataplat_api_sources.destination import make_pipeline
    from dataplat_api_sources.http import RetryingSession
    from dataplat_api_sources.source import declared_source

    # The file declares the API's connection, then the API itself (RestApiIngestionComponent): the second.
    documents = yaml.safe_load_all(DECLARATION.read_text())
    declared = next(d for d in documents if d["type"].endswith("RestApiIngestionComponent"))["attributes"]
    client = Client(**{**declared["client"], "params": {"limit": page_size}})
    payments = next(r for r in declared["resources"] if r["name"] == "payments")
    spec = ApiResource(**{**payments, "write_disposition": disposition})
    source = declared_source(
        name="bench", base_url=url, auth={"type": "bearer", "token": token}, client=client, resources=[spec],
        initial_value=datetime(2000, 1, 1, tzinfo=UTC), session=RetryingSession(),
    )  # fmt: skip
    pipeline = make_pipeline(
        "bench", dataset="payments_api", destination=dlt.destinations.duckdb(str(workdir / "warehouse.duckdb")),
        pipelines_dir=workdir / "dlt", window=None,
    )  # fmt: skip
    pipeline.run(source, loader_file_format="parquet")
    import duckdb

    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute("select count(*) from payments_api.payments").fetchone()[0]


def admin(url: str, path: str, body: dict | None = None) -> dict:
    """The simulator's admin endpoints (no auth): mutations and request stats."""
    import requests

    response = requests.post(f"{url}{path}", json=body or {}, timeout=60) if body is not None else \
        requests.get(f"{url}{path}", timeout=60)  # fmt: skip
    response.raise_for_status()
    return response.json()


def bench_volume(volume: int, repeat: int, page_size: int) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(volume, child), daemon=True)
    t0 = time.perf_counter()
    server.start()
    url, token, served = parent.recv()
    print(
        f"[{volume:,}] simulator up with {served:,} payments in {time.perf_counter() - t0:.1f}s", flush=True
    )
    runs: dict[str, list[dict]] = {"baseline": [], "merge": [], "append": [], "incremental": []}
    client = (server.pid,)  # the path's peak memory is the client's tree, not the simulator's
    try:
        with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
            for name in ("baseline", "merge", "append"):
                for i in range(repeat):
                    workdir = Path(tmp) / f"{name}-{i}"
                    if name == "baseline":
                        seconds, peak, rows = timed(baseline, url, token, page_size, exclude=client)
                    else:
                        seconds, peak, rows = timed(
                            dlt_load, url, token, page_size, name, workdir, exclude=client
                        )
                    if rows != served:
                        raise SystemExit(f"{name}: loaded {rows} rows, the simulator serves {served}")
                    runs[name].append({"seconds": seconds, "rows": rows, "peak_mib": peak})
                    print(f"  {name:<11} run {i + 1}: {rows:,} rows in {seconds:.2f}s = {rows / seconds:,.0f}/s",
                          flush=True)  # fmt: skip
            # Incremental: 1% of payments change (new updated_at), then the last merge pipeline runs again: its
            # cursor (updated_since) asks only for what changed since its previous run.
            changed = max(1, served // 100)
            for i in range(repeat):
                admin(url, "/_admin/mutate", {"update_payments": changed})
                admin(url, "/_admin/reset_stats", {})
                workdir = Path(tmp) / f"merge-{repeat - 1}"
                seconds, peak, rows = timed(dlt_load, url, token, page_size, "merge", workdir, exclude=client)
                pages = admin(url, "/_admin/stats")["paths"].get("/payments", 0)
                if rows != served:
                    raise SystemExit(
                        f"incremental: the warehouse holds {rows} rows, the simulator serves {served}"
                    )
                runs["incremental"].append(
                    {"seconds": seconds, "changed": changed, "pages": pages, "peak_mib": peak}
                )
                print(f"  incremental run {i + 1}: {changed:,} changed payments, {pages} page(s) in {seconds:.2f}s",
                      flush=True)  # fmt: skip
    finally:
        parent.send("stop")
        server.join(timeout=30)
    seconds = {name: median(r["seconds"] for r in rs) for name, rs in runs.items()}
    return {
        "payments": served,
        "runs": runs,
        "median_seconds": seconds,
        "records_per_s": {name: served / seconds[name] for name in ("baseline", "merge", "append")},
        "merge_to_baseline": seconds["baseline"] / seconds["merge"],
        "incremental_pct_of_full": 100 * seconds["incremental"] / seconds["merge"],
        "peak_mib": {name: max(r["peak_mib"] for r in rs) for name, rs in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", "--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    args = parser.parse_args(argv)
    # Import the client stack before any timing: the first load must not pay for module imports.
    import dataplat_api_sources.source  # noqa: F401
    import dlt.destinations  # noqa: F401
    import duckdb  # noqa: F401

    sizes = [bench_volume(volume, args.repeat, args.page_size) for volume in args.payments]
    columns = ["payments", "simulator paging (baseline)", "dlt merge → DuckDB", "dlt append → DuckDB",
               "merge / baseline", "incremental merge: 1% changed (% of full)", "peak MiB (merge / incremental)"]  # fmt: skip
    rows = [
        [f"{s['payments']:,}", *(f"{s['records_per_s'][n]:,.0f}/s" for n in ("baseline", "merge", "append")),
         f"{s['merge_to_baseline']:.0%}",
         f"{s['median_seconds']['incremental']:.2f} s ({s['incremental_pct_of_full']:.1f}%)",
         f"{s['peak_mib']['merge']:.0f} / {s['peak_mib']['incremental']:.0f}"]
        for s in sizes
    ]  # fmt: skip
    big = sizes[-1]
    at = f"at {big['payments']:,} payments"
    targets = [
        target("API: >= 50k records/s (dlt merge)", f"{big['records_per_s']['merge']:,.0f}/s {at}",
               big["records_per_s"]["merge"] >= TARGET),
        target("API: incremental <= 5% of a full load", f"{big['incremental_pct_of_full']:.1f}% {at}",
               big["incremental_pct_of_full"] <= 5),
        target("API: peak memory <= 1 GiB (client process tree)", f"{max(big['peak_mib'].values()):.0f} MiB {at}",
               max(big["peak_mib"].values()) <= GIB_MIB),
    ]  # fmt: skip
    title = (f"Median of {args.repeat} run(s) each; the simulator in its own process, page size {args.page_size}; "
             "peak = the client's process tree")  # fmt: skip
    report("api", args.json, sizes=args.payments, repeat=args.repeat, raw=sizes,
           tables=[table(title, columns, rows)], targets=targets)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
