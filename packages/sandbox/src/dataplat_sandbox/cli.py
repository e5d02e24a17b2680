"""``dataplat-sandbox`` command line: up, landing, sales-csv."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

from .api_server import FaultConfig
from .config import SandboxConfig
from .landing import DEFECTS, write_landing, write_sales_csv


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """KEY=VALUE lines, created with mode 0600 because it holds passwords and the API token. Written to a
    staging file and renamed, so a reader waiting for the file never sees it half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in env.items())
    os.chmod(staged, 0o600)
    staged.replace(path)


def _defect(text: str) -> tuple[date, str]:
    try:
        day, name = text.split("=", 1)
        parsed = date.fromisoformat(day)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD=DEFECT, got {text!r}") from None
    if name not in DEFECTS:
        raise argparse.ArgumentTypeError(f"unknown defect {name!r}; known: {', '.join(DEFECTS)}")
    return parsed, name


def _config(args) -> SandboxConfig:
    return SandboxConfig(seed=args.seed, orders=args.orders, days=args.days)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dataplat-sandbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def sizing(sp, orders: int) -> None:
        sp.add_argument("--orders", type=int, default=orders, help=f"number of orders (default {orders})")
        sp.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        sp.add_argument(
            "--days", type=int, default=90, help="days in the window from 2026-01-01 (default 90)"
        )

    up = sub.add_parser(
        "up", help="start PostgreSQL, landing folder, payments and shipments APIs; block until Ctrl-C"
    )
    up.add_argument("--state-dir", type=Path, default=Path(".dataplat/sandbox"))
    sizing(up, 20_000)
    up.add_argument("--env-file", type=Path, default=None, help="default: STATE_DIR/sandbox.env")
    up.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests given a fault")

    landing = sub.add_parser("landing", help="write the daily sales CSV files")
    landing.add_argument("--out", type=Path, required=True)
    sizing(landing, 20_000)
    landing.add_argument("--defect", type=_defect, action="append", default=[], metavar="YYYY-MM-DD=DEFECT")

    sales = sub.add_parser("sales-csv", help="write one big CSV of all order lines (benchmarks)")
    sales.add_argument("--out", type=Path, required=True)
    sizing(sales, 5_000_000)
    sales.add_argument("--rows", type=int, default=None, help="cut the file after this many rows")
    return p


def _up(args) -> int:
    from .sandbox import Sandbox

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    faults = FaultConfig(rate=args.fault_rate) if args.fault_rate else None
    with Sandbox(args.state_dir, _config(args), faults=faults) as sb:
        env = sb.env()
        env_file = args.env_file or args.state_dir / "sandbox.env"
        write_env_file(env_file, env)
        print(f"PostgreSQL     {sb.postgres.dsn('readonly').split('@')[1]} (user {env['SOURCE_PG_USER']})")
        print(f"Landing folder {env['LANDING_URL']}")
        print(f"Payments API   {env['PAYMENTS_API_URL']}")
        print(f"Shipments API  {env['SHIPMENTS_API_URL']}")
        print(f"Env file       {Path(env_file).absolute()}")
        print("Sandbox up; press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping sandbox...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "up":
        return _up(args)
    config = _config(args)
    if args.command == "landing":
        days = [config.start_date + timedelta(days=i) for i in range(config.days)]
        files = write_landing(args.out, config, dates=days, defects=dict(args.defect))
        print(f"wrote {len(files)} files under {Path(args.out).absolute() / 'sales'}")
        return 0
    rows = write_sales_csv(args.out, config, rows=args.rows)
    print(f"wrote {rows} rows to {Path(args.out).absolute()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
