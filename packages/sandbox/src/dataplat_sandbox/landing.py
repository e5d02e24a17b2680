"""Landing folder of daily sales CSV exports, with named, documented defects."""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from . import data as d
from .config import SandboxConfig

# The export's columns and their SQL types: what a loader declares for these files.
SALES_COLUMN_TYPES = {
    "order_id": "BIGINT",
    "line_no": "INTEGER",
    "order_ts": "TIMESTAMP",
    "customer_id": "BIGINT",
    "product_id": "BIGINT",
    "quantity": "INTEGER",
    "unit_price": "DECIMAL(12,2)",
    "amount": "DECIMAL(12,2)",
}
SALES_COLUMNS = tuple(SALES_COLUMN_TYPES)
DEFECTS = (
    "bad_types",
    "missing_column",
    "extra_column",
    "retyped_column",
    "empty_file",
    "header_only",
    "wrong_delimiter",
    "not_csv",
)
CSV_CHUNK = 500_000


class LandingFiles(list):
    """The written paths (a ``list[Path]``) plus what a test needs to know about the defects.

    ``bad_rows`` maps each ``bad_types`` day to the number of rows made unparseable; ``rows`` maps each
    day to its data row count (before defects).
    """

    def __init__(self, paths=(), *, bad_rows=None, rows=None, defects=None):
        super().__init__(paths)
        self.bad_rows: dict[date, int] = bad_rows or {}
        self.rows: dict[date, int] = rows or {}
        self.defects: dict[date, str] = defects or {}


def atomic_write(path: Path, payload: bytes) -> None:
    """Write to a hidden temp file in the same folder, then rename: watchers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _columns(items: d.Items, sl) -> list[list[str]]:
    return [
        d.fmt_int(items.order_id[sl]),
        d.fmt_int(items.line_no[sl]),
        d.fmt_ts(items.order_ts[sl]),
        d.fmt_int(items.customer_id[sl]),
        d.fmt_int(items.product_id[sl]),
        d.fmt_int(items.quantity[sl]),
        d.fmt_money(items.unit_price_cents[sl]),
        d.fmt_money(items.amount_cents[sl]),
    ]


def day_payload(config: SandboxConfig, day: date, defect: str | None = None) -> tuple[bytes, int, int]:
    """CSV bytes for one day, the day's data row count and the number of rows a defect made bad."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
    items = d.generate_cached(config).items
    lo = config.start_ts + (day - config.start_date).days * 86_400
    sl = slice(*np.searchsorted(items.order_ts, [lo, lo + 86_400]))
    header, cols = list(SALES_COLUMNS), _columns(items, sl)
    n, bad = len(cols[0]), 0
    rng = np.random.default_rng([config.seed, 300, day.toordinal()])
    sep = ","
    if defect == "empty_file":
        return b"", n, 0
    if defect == "not_csv":
        return b"\x89PNG\r\n\x1a\n\x00\xff" + rng.bytes(4096), n, 0
    if defect == "header_only":
        cols = [[] for _ in cols]
    elif defect == "bad_types":
        # Every 20th row (the first included): alternately a non-numeric quantity and an unparseable timestamp.
        bad_idx = list(range(0, n, 20))
        for k, i in enumerate(bad_idx):
            if k % 2 == 0:
                cols[5][i] = "two"
            else:
                cols[2][i] = "2026-13-45 25:61:00"
        bad = len(bad_idx)
    elif defect == "missing_column":
        header, cols = header[:-1], cols[:-1]  # 'amount' dropped
    elif defect == "extra_column":
        header.append("coupon_code")
        cols.append(["" if x else "WINTER10" for x in (rng.random(n) < 0.8).tolist()])
    elif defect == "retyped_column":
        cols[3] = ["C-" + x for x in cols[3]]  # customer_id becomes text: C-123
    elif defect == "wrong_delimiter":
        sep = ";"
    text = sep.join(header) + "\n" + d.join_rows(cols, sep)
    return text.encode("utf-8"), n, bad


def write_landing(
    folder: Path,
    config: SandboxConfig,
    *,
    dates: list[date] | None = None,
    defects: dict[date, str] | None = None,
) -> LandingFiles:
    """Write ``sales/YYYY-MM-DD.csv`` per day (default: every day of the config's window); a day's file that
    already holds exactly that content is left as it is."""
    folder = Path(folder)
    defects = dict(defects or {})
    if dates is None:
        dates = [config.start_date + timedelta(days=i) for i in range(config.days)]
    out = LandingFiles(defects=defects)
    for day in dates:
        payload, rows, bad = day_payload(config, day, defects.get(day))
        path = folder / "sales" / f"{day.isoformat()}.csv"
        # A file already in place with these bytes stays untouched: restarting the sandbox delivers nothing
        # new (a rewritten file would look like a fresh delivery, still being written, to the file sensor).
        if not (path.is_file() and path.stat().st_size == len(payload) and path.read_bytes() == payload):
            atomic_write(path, payload)
        out.append(path)
        out.rows[day] = rows
        if defects.get(day) == "bad_types":
            out.bad_rows[day] = bad
    return out


def write_sales_csv(path: Path, config: SandboxConfig, *, rows: int | None = None) -> int:
    """One big CSV of all order lines of ``config`` (optionally the first ``rows``); returns the row count.

    Streams chunk by chunk into a temp file, then renames it into place.
    """
    path = Path(path)
    items = d.generate_cached(config).items
    total = len(items.order_id) if rows is None else min(rows, len(items.order_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(SALES_COLUMNS) + "\n")
            for start in range(0, total, CSV_CHUNK):
                f.write(d.join_rows(_columns(items, slice(start, min(total, start + CSV_CHUNK))), ","))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return total
