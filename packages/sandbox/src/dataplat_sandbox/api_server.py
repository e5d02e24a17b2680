"""What every simulated REST API of the sandbox shares: real HTTP on loopback, authentication, rate limits,
injected faults, request statistics and admin endpoints. Each API (`payments_api.py`, `shipments_api.py`) adds its
tables, its authentication scheme, its pagination and its envelope."""

from __future__ import annotations

import json
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import data as d
from .config import SandboxConfig

FAULT_KINDS = ("500", "503", "slow", "truncated", "reset")


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
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


def parse_ts(value: str, name: str) -> float:
    try:
        dt = datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string decodes to ' '
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def int_param(params: dict, name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


def render_rows(keys: tuple[str, ...], columns: tuple[list, ...]) -> list[dict]:
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


class Table:
    """Columns (numpy arrays or lists) sorted by (time, id), swapped atomically on every change. `since` and
    `until` name the query parameters that bound the time column: since inclusive, until exclusive."""

    def __init__(self, id_col: str, ts_col: str, since: str, until: str, columns: dict, render: Callable):
        self.id_col, self.ts_col, self.since, self.until, self.render = id_col, ts_col, since, until, render
        self.replace(columns)

    def replace(self, columns: dict) -> None:
        order = np.lexsort((columns[self.id_col], columns[self.ts_col]))
        # One tuple assignment so concurrent readers always see a consistent snapshot.
        self.snapshot = (columns, order, columns[self.ts_col][order], columns[self.id_col][order])

    def bounds(self, params: dict, sorted_ts: np.ndarray) -> tuple[int, int]:
        """The positions in sort order that the time filter selects: `[lo, hi)`."""
        lo, hi = 0, len(sorted_ts)
        if self.since in params:
            lo = int(np.searchsorted(sorted_ts, parse_ts(params[self.since], self.since), "left"))
        if self.until in params:
            hi = int(np.searchsorted(sorted_ts, parse_ts(params[self.until], self.until), "left"))
        return lo, max(lo, hi)

    @property
    def newest(self) -> int | None:
        sorted_ts = self.snapshot[2]
        return int(sorted_ts[-1]) if len(sorted_ts) else None


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


class SimulatedApi:
    """An HTTP server on loopback serving `tables` (path -> `Table`) as pages; subclasses say how.

    - `authorize(headers)`: raise `ApiError(401, ...)` when the request's credentials are wrong;
    - `page(table, params)`: one page of rows in the API's envelope;
    - `mutations()`: the named changes `POST /_admin/mutate` can apply (deterministic given the call order).
    """

    name = "api"
    base_path = ""  # the API's own path prefix, part of `url`

    def __init__(
        self,
        config: SandboxConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        rate_limit_per_s: float | None = None,
    ) -> None:
        self.config = config
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
        self.tables: dict[str, Table] = {}
        self._clock = config.end_ts

    # --- what an API says ---------------------------------------------------------------------------------

    def authorize(self, headers: Any) -> None:
        raise NotImplementedError

    def page(self, table: Table, params: dict) -> dict:
        raise NotImplementedError

    def mutations(self) -> dict[str, Callable[[Any], Any]]:
        return {}

    # --- lifecycle ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def root(self) -> str:
        """Scheme, host and port: where the admin endpoints are (`/_admin/...`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API's base URL, as a client configures it."""
        return self.root + self.base_path

    def start(self):
        if self._httpd is not None:
            return self
        self._stop.clear()
        self._httpd = ThreadingHTTPServer((self.host, self._port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.name, daemon=True)
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

    def __enter__(self):
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

    # --- mutations ------------------------------------------------------------------------------------

    def _start_clock(self) -> None:
        """Mutations stamp rows after everything generated, one second apart."""
        newest = [t.newest for t in self.tables.values() if t.newest is not None]
        self._clock = int(max([self.config.end_ts, *newest]))

    def _tick(self, stream: int) -> tuple[int, np.random.Generator]:
        """A new timestamp and a generator for one mutation (call with the lock held)."""
        self._clock += 1
        self._mutations += 1
        return self._clock, d.rng_for(self.config, stream, self._mutations)

    def mutate(self, spec: dict) -> dict:
        actions = self.mutations()
        unknown = set(spec) - set(actions)
        if unknown:
            raise ApiError(400, f"unknown mutations: {sorted(unknown)}")
        return {k: actions[k](v) for k, v in spec.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients page through without reconnecting
    # TCP_NODELAY (socketserver's own switch). http.server sends the headers and the body in two writes; with
    # Nagle on, a body shorter than a segment waits for the client's delayed ACK of the headers, 40 ms per
    # response on Linux: a shipments page of 500 rows took 42 ms instead of 1 ms, and 1M orders' shipments
    # 333 s instead of seconds. A real API server does not stall like that.
    disable_nagle_algorithm = True
    server_version = "dataplat-sandbox/0.1"

    def log_message(self, format, *args) -> None:  # quiet: tests make thousands of requests
        pass

    @property
    def api(self) -> SimulatedApi:
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
        try:
            api.authorize(self.headers)
        except ApiError as e:
            return self._send(e.status, {"error": str(e)}, e.headers)
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
            payload = api.page(table, params)
        except ApiError as e:
            return self._send(e.status, {"error": str(e)})
        self._send(200, payload, truncate=fault == "truncated")
