"""A requests session that dlt's `RESTClient` sends every request through: timeouts, retries, fail-fast errors.

Why not dlt's own `dlt.sources.helpers.requests.Client`: it retries 429/5xx and connection errors (settings from
`RUNTIME__REQUEST_MAX_ATTEMPTS`, `..._BACKOFF_FACTOR`, `..._MAX_RETRY_DELAY`, `..._TIMEOUT`), but its backoff has no
jitter, a body that is complete on the wire but cut short (a proxy closing early, a `Content-Length` lie caught
too late) is only noticed later by `response.json()` outside the retry loop, and a 401 surfaces as a bare
`HTTPError`. This session keeps the policy in one typed object and:

- puts a (connect, read) timeout on every request;
- retries 429 and 5xx, honouring `Retry-After` (capped), else exponential backoff with jitter;
- retries connection resets, timeouts and truncated bodies (`ChunkedEncodingError`/`IncompleteRead`, or a 2xx
  JSON body that does not parse) - the JSON is parsed once here and cached on the response, so the paginator and
  the data selector, which each call `response.json()`, do not parse the page again;
- fails at once on other 4xx (401/403/404...) with a message naming the endpoint and the status.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from requests.exceptions import ChunkedEncodingError, ConnectionError, ContentDecodingError, Timeout

log = logging.getLogger(__name__)

RETRYABLE_EXCEPTIONS = (ConnectionError, Timeout, ChunkedEncodingError, ContentDecodingError)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit a production API; tests shrink the waits."""

    max_attempts: int = 8
    backoff_seconds: float = 0.5  # first backoff; doubles per attempt
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # a server asking for longer is capped, not obeyed blindly
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    # A refused connection means nothing listens at the address (a wrong URL, a stopped server): a few quick
    # attempts cover a server that is restarting, then the request fails within seconds, not after the whole
    # backoff (~1 min), naming the host.
    refused_attempts: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.refused_attempts < 1:
            raise ValueError("refused_attempts must be at least 1")
        if min(self.backoff_seconds, self.max_backoff_seconds, self.max_retry_after_seconds) < 0:
            raise ValueError("backoff and retry-after limits must not be negative")
        if self.connect_timeout_seconds <= 0 or self.read_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive: a request without a timeout can hang a run forever")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout_seconds, self.read_timeout_seconds)


@dataclass
class HttpCounts:
    """What a client did against one endpoint (or in total): requests sent (every attempt), retries, and the
    failed attempts by kind (`HTTP 503`, `ReadTimeout`...)."""

    requests: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, other: HttpCounts) -> HttpCounts:
        failures = dict(self.failures)
        for kind, n in other.failures.items():
            failures[kind] = failures.get(kind, 0) + n
        return HttpCounts(self.requests + other.requests, self.retries + other.retries, failures)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "failures": dict(self.failures)}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> HttpCounts:
        failures = {str(k): int(n) for k, n in dict(value.get("failures") or {}).items()}
        return cls(int(value.get("requests", 0)), int(value.get("retries", 0)), failures)


class ApiRequestError(RuntimeError):
    """A request the API refused (not retried), or one that kept failing until the retries ran out.
    `transient` (read by `dataplat_core.observability.is_transient`): False when a step retry cannot help,
    None to let the error's kind decide."""

    def __init__(self, endpoint: str, status: int | None, message: str, *, transient: bool | None = None):
        self.endpoint, self.status, self.transient = endpoint, status, transient
        super().__init__(message)


class ApiRetriesExhausted(ApiRequestError):
    pass


class TruncatedBody(ValueError):
    pass


def _refused_error(endpoint: str, request: requests.PreparedRequest, attempts: int) -> ApiRequestError:
    parts = urlsplit(request.url or "")
    host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    return ApiRequestError(
        endpoint,
        None,
        f"{endpoint}: connection to {host} refused ({attempts} attempts): nothing listens there. Check that the "
        f"API at {parts.scheme}://{host} is running and that the resource's base URL is right (locally: is the "
        "sandbox up?)",
        transient=False,
    )


def _connection_refused(exc: BaseException) -> bool:
    """requests wraps the socket's ConnectionRefusedError in urllib3's MaxRetryError and NewConnectionError."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        err = todo.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ConnectionRefusedError):
            return True
        todo += [err.__cause__, err.__context__, getattr(err, "reason", None), *err.args]
    return False


def _retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent or unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short_body(response: requests.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - only decorating an error message
        return ""
    return text[:limit].strip()


class RetryingSession(requests.Session):
    """`requests.Session` whose `send` implements the policy above (dlt's `RESTClient` calls `send`).

    `sleep` and `rng` are injectable so tests can record the waits instead of waiting (no timed assertions).
    `attempts`/`retries`/`failures` count what this session did in total, `by_path` per URL path (one per API
    resource); the component reports each resource's counts on its asset.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        logger: Any = None,
    ) -> None:
        super().__init__()
        self.policy = policy or RetryPolicy()
        self._sleep, self._rng, self._log = sleep, rng or random.Random(), logger or log
        self.attempts = 0
        self.retries = 0
        self.waits: list[float] = []
        self.failures: dict[str, int] = {}
        self.by_path: dict[str, HttpCounts] = {}
        # dlt fetches the resources' pages in a thread pool ("parallelized"), all through this one session:
        # `+=` on shared counters is not atomic across threads.
        self._counts_lock = threading.Lock()

    def counts_by_path(self) -> dict[str, HttpCounts]:
        """A snapshot of the per-path counters (copies: the session may still be counting)."""
        with self._counts_lock:
            return {path: HttpCounts().add(c) for path, c in self.by_path.items()}

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so clients spread out."""
        base = min(self.policy.max_backoff_seconds, self.policy.backoff_seconds * 2 ** (attempt - 1))
        return base / 2 + self._rng.uniform(0, base / 2)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.timeout
        path = urlsplit(request.url or "").path
        endpoint = f"{request.method} {path}"  # no query: it may carry secrets
        with self._counts_lock:
            counts = self.by_path.setdefault(path.rstrip("/") or "/", HttpCounts())
        last = "no attempt"
        refused = 0
        for attempt in range(1, self.policy.max_attempts + 1):
            with self._counts_lock:
                self.attempts += 1
                counts.requests += 1
            retry_after: float | None = None
            response: requests.Response | None
            try:
                response = super().send(request, **kwargs)
            except requests.HTTPError as exc:  # raised by a response hook (dlt adds raise_for_status)
                if exc.response is None:
                    raise
                response = exc.response
            except RETRYABLE_EXCEPTIONS as exc:
                response, last = None, type(exc).__name__
                if _connection_refused(exc):
                    refused, last = refused + 1, "connection refused"
            if response is not None:
                status = response.status_code
                if status < 400:
                    try:
                        return self._with_parsed_json(response, kwargs.get("stream", False))
                    except TruncatedBody as exc:
                        last = str(exc)
                elif _retryable_status(status):
                    last = f"HTTP {status}"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                else:
                    raise ApiRequestError(
                        endpoint,
                        status,
                        f"{endpoint} answered HTTP {status} {response.reason or ''}".rstrip()
                        + f" (not retried: a client error does not go away by itself): {_short_body(response)}",
                    )
            with self._counts_lock:
                self.failures[last] = self.failures.get(last, 0) + 1
                counts.failures[last] = counts.failures.get(last, 0) + 1
            if refused >= self.policy.refused_attempts:
                raise _refused_error(endpoint, request, refused)
            if attempt == self.policy.max_attempts:
                break
            if retry_after is not None:
                wait = min(retry_after, self.policy.max_retry_after_seconds)
            else:
                wait = self.backoff(attempt)
            with self._counts_lock:
                self.retries += 1
                counts.retries += 1
                self.waits.append(wait)
            self._log.warning(
                f"{endpoint}: {last} (attempt {attempt}/{self.policy.max_attempts}), retry in {wait:.2f}s"
            )
            self._sleep(wait)
        raise ApiRetriesExhausted(
            endpoint,
            None,
            f"{endpoint} still failing after {self.policy.max_attempts} attempts; last error: {last}",
        )

    @staticmethod
    def _with_parsed_json(response: requests.Response, stream: bool) -> requests.Response:
        if stream:
            return response
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type and 200 <= response.status_code < 300 and response.content:
            # A proxy's or gateway's HTML page answered 200: retried like a broken body, then named.
            raise TruncatedBody(
                f"not a JSON body (Content-Type {content_type or 'missing'!r}): {_short_body(response, 80)!r}"
            )
        if "json" not in content_type:
            return response
        try:
            parsed = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise TruncatedBody(f"truncated or invalid JSON body ({len(response.content)} bytes)") from None
        # An instance attribute shadows Response.json: later callers get the already parsed page.
        response.json = lambda **_: parsed  # type: ignore[method-assign]
        return response
