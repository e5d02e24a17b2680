"""Benchmark: the refund model's feature build, training and batch scoring, time and peak memory per scale.

    uv run --locked --project packages/ml_training python bench/ml_training.py --orders 20000 1000000

For each scale (orders over 90 days, the sandbox's defaults otherwise):

1. setup (not measured): the sandbox's PostgreSQL is started and loaded, its tables are copied into a fresh
   DuckDB warehouse by the postgres scanner (as the tests do), the refunds from `generate_payments`;
2. each phase runs in its own fresh Python process (so its peak memory is its own), calling exactly what the
   assets call (the analytics deployment's `refund_model` declaration, `ModelTrainingComponent` methods on a
   `DuckDBResource`):
   - features: `ml.order_features` rebuilt in DuckDB by the declared features SQL;
   - train <estimator>: read the feature table into pandas, split, fit, evaluate, store (per `--estimators`);
   - score: score the recent open orders with the model in service and write `ml.refund_predictions`.

Reported per phase: wall seconds, the fit alone (`training_seconds`, training phases), test ROC AUC, and the
process's peak RSS (VmHWM) next to its RSS after imports, before any work; `--json` writes them for
bench/run.py. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import GIB_MIB, report, table, target

# What the local analytics location declares: the bench trains the model the way the platform does.
DECLARATION = (
    Path(__file__).resolve().parents[1] / "deployments/locations/analytics/defs/refund_model/defs.yaml"
)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def build_warehouse(path: Path, orders: int) -> dict:
    import duckdb
    import pandas as pd
    from dataplat_core.binaries import duckdb_connection_config
    from dataplat_core.duckdb_warehouse import copy_from_postgres
    from dataplat_sandbox import data
    from dataplat_sandbox.config import SandboxConfig
    from dataplat_sandbox.postgres import SandboxPostgres

    config = SandboxConfig(orders=orders)
    started = time.perf_counter()
    with SandboxPostgres(path.parent / "postgres") as pg:
        pg.load(config)
        with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
            copy_from_postgres(conn, pg.dsn("readonly"), ("orders", "order_items", "customers", "products"))
    r = data.generate_payments(config).refunds
    refunds = pd.DataFrame(  # noqa: F841 - read by DuckDB below
        {
            "refund_id": r["refund_id"],
            "payment_id": r["payment_id"],
            "order_id": r["order_id"],
            "amount": r["amount_cents"] / 100,
            "reason": [data.REFUND_REASONS[i] for i in r["reason"]],
            "created_at": pd.to_datetime(r["created_at"], unit="s", utc=True),
            "updated_at": pd.to_datetime(r["updated_at"], unit="s", utc=True),
        }
    )
    with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
        conn.execute("create schema payments_api")
        conn.execute(
            "create table payments_api.refunds as select *, 'bench' as _dlt_load_id,"
            " md5(cast(refund_id as varchar)) as _dlt_id from refunds"
        )
    return {"setup_seconds": round(time.perf_counter() - started, 1), "refunds": len(r["refund_id"])}


def phase(warehouse: str, name: str, estimator: str) -> dict:
    """One phase in this (fresh) process; prints a JSON line."""
    import dagster as dg

    # The heavy libraries the phase uses, loaded before the baseline so it shows the work, not the imports.
    import pandas  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import yaml
    from dataplat_core.artifacts import ArtifactStore
    from dataplat_core.binaries import duckdb_connection_config
    from dataplat_core.duckdb_warehouse import WarehouseDuckDB
    from dataplat_ml_training.component import ModelTrainingComponent
    from dataplat_ml_training.features import build_feature_table

    resource = WarehouseDuckDB(database=warehouse, connection_config=duckdb_connection_config())
    artifacts = ArtifactStore(url=os.environ["ARTIFACTS_URL"])
    declared = yaml.safe_load(DECLARATION.read_text())["attributes"]
    component = ModelTrainingComponent.resolve_from_dict({**declared, "model": {"estimator": estimator}})
    component.validate(DECLARATION.parent)
    baseline = _rss_kib("VmRSS")
    started = time.perf_counter()
    out: dict = {}
    if name == "features":
        out["rows"] = build_feature_table(resource, "ml.order_features", component.feature_select())
    elif name == "train":
        result: dg.MaterializeResult = component.train(resource, artifacts)
        meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
        out.update(
            rows=meta["train_rows"] + meta["test_rows"],
            fit_seconds=meta["training_seconds"],
            roc_auc=meta["roc_auc"],
            promoted=meta["promoted"],
        )
    elif name == "score":
        result = component.score(resource, artifacts)
        out["rows"] = result.metadata["dagster/row_count"].value  # an IntMetadataValue (`table_metadata`)
    out.update(
        seconds=round(time.perf_counter() - started, 2),
        rss_before_mib=round(baseline / 1024),
        peak_rss_mib=round(_rss_kib("VmHWM") / 1024),
    )
    return out


def _run_phase(warehouse: Path, name: str, estimator: str, artifacts: Path) -> dict:
    env_store = {"ARTIFACTS_URL": str(artifacts)}

    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--warehouse", str(warehouse), "--estimator", estimator],
        capture_output=True,
        text=True,
        env={**os.environ, **env_store},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--estimators", nargs="+", default=["logistic_regression", "hist_gradient_boosting"])
    parser.add_argument("--repeat", type=int, default=1, help="accepted for bench/run.py; one run per phase")
    parser.add_argument("--json", type=Path, help="write the results there (bench/run.py does)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--estimator", default="logistic_regression", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:  # child process
        import warnings

        warnings.filterwarnings("ignore")
        print(json.dumps(phase(args.warehouse, args.phase, args.estimator)))
        return 0

    rows = []
    for orders in args.orders:
        with tempfile.TemporaryDirectory(prefix="bench-ml-") as tmp:
            warehouse = Path(tmp) / "warehouse.duckdb"
            print(f"orders={orders:,}: building the warehouse ...", flush=True)
            setup = build_warehouse(warehouse, orders)
            print(f"  setup {setup['setup_seconds']} s, {setup['refunds']:,} refunds", flush=True)
            steps = [("features", args.estimators[0])]
            # The last estimator trained is the one in service for scoring: train the default last.
            steps += [("train", e) for e in reversed(args.estimators)]
            steps += [("score", args.estimators[0])]
            for name, estimator in steps:
                result = _run_phase(warehouse, name, estimator, Path(tmp) / "artifacts")
                label = f"train {estimator}" if name == "train" else name
                rows.append({"orders": orders, "phase": label, **result})
                print(f"  {label}: {result}", flush=True)

    columns = ["orders", "phase", "rows", "seconds", "fit s", "ROC AUC", "RSS before", "peak RSS"]
    cells = [
        [f"{r['orders']:,}", r["phase"], f"{r['rows']:,}", f"{r['seconds']:.2f}",
         f"{r['fit_seconds']:.2f}" if "fit_seconds" in r else "", f"{r['roc_auc']:.3f}" if "roc_auc" in r else "",
         f"{r['rss_before_mib']} MiB", f"{r['peak_rss_mib']} MiB"]
        for r in rows
    ]  # fmt: skip
    big = [r for r in rows if r["orders"] == args.orders[-1]]
    peak = max(r["peak_rss_mib"] for r in big)
    targets = [target(f"ML: peak memory <= 1 GiB (each phase's process) at {args.orders[-1]:,} orders",
                      f"{peak} MiB", peak <= GIB_MIB)]  # fmt: skip
    title = "One fresh process per phase; setup (PostgreSQL, copy into DuckDB) not measured"
    report(
        "ml",
        args.json,
        sizes=args.orders,
        repeat=1,
        raw=rows,
        tables=[table(title, columns, cells)],
        targets=targets,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
