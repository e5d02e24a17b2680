"""The payments provider's API: bearer auth, cursor pagination (`{"data": [...], "next_cursor": ...}`, next page
with `?cursor=`, `limit` up to 10000), `*_since`/`*_until` filters."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import urllib.request

import numpy as np

from . import data as d
from .api_server import ApiError, FaultConfig, SimulatedApi, Table, int_param, render_rows
from .config import SandboxConfig

__all__ = ["FaultConfig", "PaymentsApiServer", "fetch_all"]

DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
MUTATION_STREAM = 400


def _encode_cursor(ts: int, ident: int) -> str:
    return base64.urlsafe_b64encode(f"{ts}:{ident}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, ident = raw.split(":")
        return int(ts), int(ident)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor") from None


def _lookup(names) -> np.ndarray:
    return np.array(names, dtype=object)


_METHODS, _PSTATUS = _lookup(d.PAYMENT_METHODS), _lookup(d.PAYMENT_STATUSES)
_REASONS, _ETYPES = _lookup(d.REFUND_REASONS), _lookup(d.EVENT_TYPES)


def _render_payments(c, idx) -> list[dict]:
    keys = ("payment_id", "order_id", "amount", "currency", "method", "status", "created_at", "updated_at")
    cols = (c["payment_id"][idx].tolist(), c["order_id"][idx].tolist(), (c["amount_cents"][idx] / 100).tolist(),
            ["EUR"] * len(idx), _METHODS[c["method"][idx]].tolist(), _PSTATUS[c["status"][idx]].tolist(),
            d.fmt_ts(c["created_at"][idx]), d.fmt_ts(c["updated_at"][idx]))  # fmt: skip
    return render_rows(keys, cols)


def _render_refunds(c, idx) -> list[dict]:
    keys = ("refund_id", "payment_id", "order_id", "amount", "reason", "created_at", "updated_at")
    cols = (c["refund_id"][idx].tolist(), c["payment_id"][idx].tolist(), c["order_id"][idx].tolist(),
            (c["amount_cents"][idx] / 100).tolist(), _REASONS[c["reason"][idx]].tolist(),
            d.fmt_ts(c["created_at"][idx]), d.fmt_ts(c["updated_at"][idx]))  # fmt: skip
    return render_rows(keys, cols)


def _render_events(c, idx) -> list[dict]:
    keys = ("event_id", "type", "object_id", "created_at")
    cols = (c["event_id"][idx].tolist(), _ETYPES[c["type"][idx]].tolist(), c["object_id"][idx].tolist(),
            d.fmt_ts(c["created_at"][idx]))  # fmt: skip
    return render_rows(keys, cols)


def _render_methods(c, idx) -> list[dict]:
    keys = ("code", "name", "active", "updated_at")
    cols = (
        c["code"][idx].tolist(),
        c["name"][idx].tolist(),
        c["active"][idx].tolist(),
        d.fmt_ts(c["updated_at"][idx]),
    )
    return render_rows(keys, cols)


class PaymentsApiServer(SimulatedApi):
    """Serves ``/payments``, ``/refunds``, ``/events`` and ``/payment_methods`` derived from ``config``."""

    name = "payments-api"

    def __init__(self, config: SandboxConfig, *, token: str | None = None, **server) -> None:
        super().__init__(config, **server)
        self.token = token or secrets.token_urlsafe(24)
        pd = d.generate_payments(config)
        self.tables = {
            "/payments": Table("payment_id", "updated_at", "updated_since", "updated_until", pd.payments,
                               _render_payments),
            "/refunds": Table("refund_id", "updated_at", "updated_since", "updated_until", pd.refunds,
                              _render_refunds),
            "/events": Table("event_id", "created_at", "created_since", "created_until", pd.events, _render_events),
        }  # fmt: skip
        self._start_clock()
        methods = [
            {"code": c, "name": n, "active": True}
            for c, n in zip(d.PAYMENT_METHODS, d.PAYMENT_METHOD_NAMES, strict=True)
        ]
        self.tables["/payment_methods"] = Table(
            "row", "updated_at", "updated_since", "updated_until", self._method_columns(methods, config.start_ts),
            _render_methods,
        )  # fmt: skip

    def authorize(self, headers) -> None:
        auth = headers.get("Authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {self.token}".encode()):
            raise ApiError(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})

    def page(self, table: Table, params: dict) -> dict:
        cols, order, sorted_ts, sorted_id = table.snapshot
        limit = int_param(params, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}")
        lo, hi = table.bounds(params, sorted_ts)
        if "cursor" in params:
            a_ts, a_id = _decode_cursor(params["cursor"])
            p = int(np.searchsorted(sorted_ts, a_ts, "left"))
            q = int(np.searchsorted(sorted_ts, a_ts, "right"))
            lo = max(lo, p + int(np.searchsorted(sorted_id[p:q], a_id, "right")))
        end = min(hi, lo + limit)
        rows = table.render(cols, order[lo:end]) if end > lo else []
        nxt = _encode_cursor(int(sorted_ts[end - 1]), int(sorted_id[end - 1])) if lo < end < hi else None
        return {"data": rows, "next_cursor": nxt}

    def mutations(self) -> dict:
        return {
            "update_payments": self.update_payments,
            "add_events": self.add_events,
            "add_refunds": self.add_refunds,
            "set_payment_methods": self.set_payment_methods,
        }

    # --- mutations (deterministic given the sequence of calls) ----------------------------------------

    def update_payments(self, n: int) -> list[int]:
        """Pending payments succeed, others get an amount adjustment; all get a bumped updated_at."""
        with self._lock:
            ts, rng = self._tick(MUTATION_STREAM)
            t = self.tables["/payments"]
            cols = {k: v.copy() for k, v in t.snapshot[0].items()}
            pick = np.sort(
                rng.choice(len(cols["payment_id"]), min(n, len(cols["payment_id"])), replace=False)
            )
            pending = cols["status"][pick] == d.PAYMENT_STATUSES.index("pending")
            cols["status"][pick[pending]] = d.PAYMENT_STATUSES.index("succeeded")
            adj = pick[~pending]
            cols["amount_cents"][adj] = np.maximum(
                1, cols["amount_cents"][adj] + rng.integers(-500, 500, len(adj))
            )
            cols["updated_at"][pick] = ts
            t.replace(cols)
            ids = cols["payment_id"][pick]
            self._append_events(np.full(len(ids), 3), ids, ts)
            return ids.tolist()

    def add_refunds(self, n: int) -> list[int]:
        """Refund n succeeded payments in full; returns the new refund ids."""
        with self._lock:
            ts, rng = self._tick(MUTATION_STREAM)
            pt, rt = self.tables["/payments"], self.tables["/refunds"]
            pcols = {k: v.copy() for k, v in pt.snapshot[0].items()}
            ok = np.flatnonzero(pcols["status"] == d.PAYMENT_STATUSES.index("succeeded"))
            pick = np.sort(rng.choice(ok, min(n, len(ok)), replace=False))
            pcols["status"][pick] = d.PAYMENT_STATUSES.index("refunded")
            pcols["updated_at"][pick] = ts
            rc = rt.snapshot[0]
            first = int(rc["refund_id"].max()) + 1 if len(rc["refund_id"]) else 1
            new = {
                "refund_id": np.arange(first, first + len(pick), dtype=np.int64),
                "payment_id": pcols["payment_id"][pick],
                "order_id": pcols["order_id"][pick],
                "amount_cents": pcols["amount_cents"][pick],
                "reason": rng.choice(len(d.REFUND_REASONS), len(pick)),
                "created_at": np.full(len(pick), ts, dtype=np.int64),
                "updated_at": np.full(len(pick), ts, dtype=np.int64),
            }
            pt.replace(pcols)
            rt.replace({k: np.concatenate([rc[k], new[k]]) for k in rc})
            self._append_events(np.full(len(pick), 2), new["refund_id"], ts)
            return new["refund_id"].tolist()

    def add_events(self, n: int) -> list[int]:
        """Append n ``payment.updated`` events for random payments; returns the new event ids."""
        with self._lock:
            ts, rng = self._tick(MUTATION_STREAM)
            ids = self.tables["/payments"].snapshot[0]["payment_id"]
            obj = ids[rng.integers(0, len(ids), n)]
            return self._append_events(np.full(n, 3), obj, ts).tolist()

    def _append_events(self, types: np.ndarray, objects: np.ndarray, ts: int) -> np.ndarray:
        t = self.tables["/events"]
        c = t.snapshot[0]
        first = int(c["event_id"].max()) + 1 if len(c["event_id"]) else 1
        new = {
            "event_id": np.arange(first, first + len(types), dtype=np.int64),
            "type": types.astype(c["type"].dtype),
            "object_id": objects.astype(np.int64),
            "created_at": np.full(len(types), ts, dtype=np.int64),
        }
        t.replace({k: np.concatenate([c[k], new[k]]) for k in c})
        return new["event_id"]

    @staticmethod
    def _method_columns(methods: list[dict], ts: int) -> dict:
        return {
            "code": np.array([str(m["code"]) for m in methods], dtype=object),
            "name": np.array([str(m.get("name", m["code"])) for m in methods], dtype=object),
            "active": np.array([bool(m.get("active", True)) for m in methods], dtype=object),
            "updated_at": np.full(len(methods), ts, dtype=np.int64),
            "row": np.arange(len(methods), dtype=np.int64),  # integer id for the (updated_at, id) cursor
        }

    def set_payment_methods(self, methods: list[dict]) -> None:
        """Replace the reference list (dicts with code, name, active); every entry gets a new updated_at."""
        with self._lock:
            ts, _ = self._tick(MUTATION_STREAM)
            self.tables["/payment_methods"].replace(self._method_columns(methods, ts))


def fetch_all(url: str, token: str, path: str, *, page_size: int = 10_000) -> list[dict]:
    """Every row of one endpoint, following the cursor as a client would (tests use it as the expected data)."""
    rows: list[dict] = []
    cursor = None
    while True:
        query = f"limit={page_size}" + (f"&cursor={cursor}" if cursor else "")
        request = urllib.request.Request(f"{url}{path}?{query}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
        rows += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows
