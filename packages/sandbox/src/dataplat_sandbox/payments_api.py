"""A payments API simulator: real HTTP on loopback, bearer auth, cursor pagination, rate limits, faults."""

from __future__ import annotations

import base64
import hmac
import json
import math
import random
import secrets
import socket
import struct
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import data as d
from .config import SandboxConfig

FAULT_KINDS = ("500", "503", "slow", "truncated", "reset")
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000


@dataclass(frozen=True)
class FaultConfig:
    """Each data request draws from ``random.Random(seed)``: with probability ``rate`` it gets one of ``kinds``.

    The draw sequence restarts whenever the faults are set, so a given request order gives the same faults.
    """

    rate: float = 0.0
    kinds: tuple = FAULT_KINDS
    slow_seconds: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(str(k) for k in self.kinds))
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be a non-empty subset of {FAULT_KINDS}, got {self.kinds}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be within [0, 1]")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _iso(ts: np.ndarray) -> list[str]:
    return d.fmt_ts(ts)


def _parse_ts(value: str, name: str) -> float:
    try:
        dt = datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string decodes to ' '
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class _Table:
    """Columns (numpy arrays or lists) plus a (ts, id) sort index, swapped atomically on every change."""

    def __init__(self, id_col: str, ts_col: str, since: str, until: str, columns: dict, render):
        self.id_col, self.ts_col, self.since, self.until, self.render = id_col, ts_col, since, until, render
        self.replace(columns)

    def replace(self, columns: dict) -> None:
        order = np.lexsort((columns[self.id_col], columns[self.ts_col]))
        # One tuple assignment so concurrent readers always see a consistent snapshot.
        self.snapshot = (columns, order, columns[self.ts_col][order], columns[self.id_col][order])

    def page(self, params: dict) -> dict:
        cols, order, sorted_ts, sorted_id = self.snapshot
        limit = _int_param(params, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}")
        lo, hi = 0, len(order)
        if self.since in params:
            lo = int(np.searchsorted(sorted_ts, _parse_ts(params[self.since], self.since), "left"))
        if self.until in params:
            hi = int(np.searchsorted(sorted_ts, _parse_ts(params[self.until], self.until), "left"))
        if "cursor" in params:
            a_ts, a_id = _decode_cursor(params["cursor"])
            p = int(np.searchsorted(sorted_ts, a_ts, "left"))
            q = int(np.searchsorted(sorted_ts, a_ts, "right"))
            lo = max(lo, p + int(np.searchsorted(sorted_id[p:q], a_id, "right")))
        end = min(hi, lo + limit)
        rows = self.render(cols, order[lo:end]) if end > lo else []
        nxt = _encode_cursor(int(sorted_ts[end - 1]), int(sorted_id[end - 1])) if lo < end < hi else None
        return {"data": rows, "next_cursor": nxt}


def _int_param(params: dict, name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


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
            _iso(c["created_at"][idx]), _iso(c["updated_at"][idx]))  # fmt: skip
    return [dict(zip(keys, row, strict=False)) for row in zip(*cols, strict=False)]


def _render_refunds(c, idx) -> list[dict]:
    keys = ("refund_id", "payment_id", "order_id", "amount", "reason", "created_at", "updated_at")
    cols = (c["refund_id"][idx].tolist(), c["payment_id"][idx].tolist(), c["order_id"][idx].tolist(),
            (c["amount_cents"][idx] / 100).tolist(), _REASONS[c["reason"][idx]].tolist(),
            _iso(c["created_at"][idx]), _iso(c["updated_at"][idx]))  # fmt: skip
    return [dict(zip(keys, row, strict=False)) for row in zip(*cols, strict=False)]


def _render_events(c, idx) -> list[dict]:
    keys = ("event_id", "type", "object_id", "created_at")
    cols = (c["event_id"][idx].tolist(), _ETYPES[c["type"][idx]].tolist(), c["object_id"][idx].tolist(),
            _iso(c["created_at"][idx]))  # fmt: skip
    return [dict(zip(keys, row, strict=False)) for row in zip(*cols, strict=False)]


def _render_methods(c, idx) -> list[dict]:
    keys = ("code", "name", "active", "updated_at")
    cols = (
        c["code"][idx].tolist(),
        c["name"][idx].tolist(),
        c["active"][idx].tolist(),
        _iso(c["updated_at"][idx]),
    )
    return [dict(zip(keys, row, strict=False)) for row in zip(*cols, strict=False)]


class _RateLimiter:
    """Token bucket: ``rate`` tokens per second, burst of max(1, rate)."""

    def __init__(self, rate: float):
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.stamp = self.capacity, time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> float:
        """0 when allowed, else the seconds until the next token."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class PaymentsApiServer:
    """Serves ``/payments``, ``/refunds``, ``/events`` and ``/payment_methods`` derived from ``config``."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        rate_limit_per_s: float | None = None,
    ) -> None:
        self.config = config
        self.token = token or secrets.token_urlsafe(24)
        self.host, self._port = host, port
        self._lock = threading.Lock()
        self._stats: dict[str, int] = {}
        self._total = 0
        self._limiter = _RateLimiter(rate_limit_per_s) if rate_limit_per_s else None
        self.set_faults(faults or FaultConfig())
        self._mutations = 0
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

        pd = d.generate_payments(config)
        self.tables = {
            "/payments": _Table("payment_id", "updated_at", "updated_since", "updated_until", pd.payments,
                                _render_payments),
            "/refunds": _Table("refund_id", "updated_at", "updated_since", "updated_until", pd.refunds,
                               _render_refunds),
            "/events": _Table("event_id", "created_at", "created_since", "created_until", pd.events, _render_events),
        }  # fmt: skip
        self._clock = int(
            max(
                [config.end_ts] + [int(t.snapshot[2][-1]) for t in self.tables.values() if len(t.snapshot[2])]
            )
        )
        methods = [
            {"code": c, "name": n, "active": True}
            for c, n in zip(d.PAYMENT_METHODS, d.PAYMENT_METHOD_NAMES, strict=False)
        ]
        self.tables["/payment_methods"] = _Table(
            "row", "updated_at", "updated_since", "updated_until", self._method_columns(methods, config.start_ts),
            _render_methods,
        )  # fmt: skip

    # --- lifecycle ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> PaymentsApiServer:
        if self._httpd is not None:
            return self
        self._stop.clear()
        self._httpd = ThreadingHTTPServer((self.host, self._port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="payments-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stop.set()  # wakes handlers sleeping in a 'slow' fault
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self._httpd = None

    def __enter__(self) -> PaymentsApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- stats and faults -----------------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        """``{"total": n, "paths": {path: n}}`` over every non-admin request, whatever its outcome."""
        with self._lock:
            return {"total": self._total, "paths": dict(self._stats)}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._total = 0

    def _count(self, path: str) -> None:
        with self._lock:
            self._total += 1
            self._stats[path] = self._stats.get(path, 0) + 1

    def set_faults(self, faults: FaultConfig) -> None:
        with self._lock:
            self.faults = faults
            self._fault_rng = random.Random(faults.seed)

    def _draw_fault(self) -> str | None:
        with self._lock:
            # Always draw both numbers so the sequence does not depend on the outcome.
            u, k = self._fault_rng.random(), self._fault_rng.randrange(len(self.faults.kinds))
            return self.faults.kinds[k] if u < self.faults.rate else None

    def _rate_limited(self) -> float:
        return self._limiter.acquire() if self._limiter else 0.0

    # --- mutations (deterministic given the sequence of calls) ----------------------------------------

    def _tick(self) -> tuple[int, np.random.Generator]:
        self._clock += 1
        self._mutations += 1
        return self._clock, d.rng_for(self.config, 400, self._mutations)

    def update_payments(self, n: int) -> list[int]:
        """Pending payments succeed, others get an amount adjustment; all get a bumped updated_at."""
        with self._lock:
            ts, rng = self._tick()
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
            ts, rng = self._tick()
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
            ts, rng = self._tick()
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
            ts, _ = self._tick()
            self.tables["/payment_methods"].replace(self._method_columns(methods, ts))

    def mutate(self, spec: dict) -> dict:
        actions = {
            "update_payments": self.update_payments,
            "add_events": self.add_events,
            "add_refunds": self.add_refunds,
            "set_payment_methods": self.set_payment_methods,
        }
        unknown = set(spec) - set(actions)
        if unknown:
            raise ApiError(400, f"unknown mutations: {sorted(unknown)}")
        return {k: actions[k](v) for k, v in spec.items()}


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients page through without reconnecting
    server_version = "payments-sandbox/0.1"

    def log_message(self, format, *args) -> None:  # quiet: tests make thousands of requests
        pass

    @property
    def api(self) -> PaymentsApiServer:
        return self.server.api  # type: ignore[attr-defined]

    def _send(self, status: int, payload, headers: dict | None = None, *, truncate: bool = False) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            # A truncated body: Content-Length promises more than we send, then the connection closes.
            self.wfile.write(body[: len(body) // 2] if truncate else body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if truncate:
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER 0 + close sends a TCP RST instead of a FIN: the client sees "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference, otherwise close() would not close the fd
        self.connection.close()
        self.close_connection = True

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise ApiError(400, "body must be JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/_admin/faults":
                body = self._body()
                self.api.set_faults(FaultConfig(**body))
                return self._send(200, asdict(self.api.faults))
            if path == "/_admin/reset_stats":
                self._body()
                self.api.reset_stats()
                return self._send(200, self.api.stats)
            if path == "/_admin/mutate":
                return self._send(200, self.api.mutate(self._body()))
            raise ApiError(404 if not path.startswith("/_admin") else 405, "not found")
        except ApiError as e:
            self._send(e.status, {"error": str(e)})
        except (TypeError, ValueError) as e:
            self._send(400, {"error": str(e)})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_admin/stats":
            return self._send(200, self.api.stats)
        api = self.api
        api._count(url.path)
        table = api.tables.get(url.path)
        if table is None:
            return self._send(404, {"error": f"no such endpoint: {url.path}"})
        auth = self.headers.get("Authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {api.token}".encode()):
            return self._send(
                401, {"error": "missing or invalid bearer token"}, {"WWW-Authenticate": "Bearer"}
            )
        wait = api._rate_limited()
        if wait:
            return self._send(
                429, {"error": "rate limit exceeded"}, {"Retry-After": str(max(1, math.ceil(wait)))}
            )
        fault = api._draw_fault()
        if fault == "500":
            return self._send(500, {"error": "internal server error (injected)"})
        if fault == "503":
            return self._send(503, {"error": "service unavailable (injected)"}, {"Retry-After": "1"})
        if fault == "reset":
            return self._reset()
        if fault == "slow" and api._stop.wait(api.faults.slow_seconds):
            return self._reset()  # server stopping: do not keep the client waiting
        try:
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            payload = table.page(params)
        except ApiError as e:
            return self._send(e.status, {"error": str(e)})
        self._send(200, payload, truncate=fault == "truncated")
