"""The retrying session against the real simulator (401/404, 429, timeouts) and a stub transport (403, bodies).

Waits are recorded through an injected `sleep`, so tests assert which wait was chosen, never how long it took.
"""

import random
import socket
import time

import pytest
from dataplat_api_sources.http import (
    ApiRequestError,
    ApiRetriesExhausted,
    RetryingSession,
    RetryPolicy,
    parse_retry_after,
)
from dataplat_core.observability import is_transient
from dataplat_sandbox.payments_api import FaultConfig, PaymentsApiServer
from http_support import StubAdapter

FAST = RetryPolicy(max_attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05, read_timeout_seconds=0.5)


def _stub_session(answers, policy=FAST):
    waits: list[float] = []
    session = RetryingSession(policy, sleep=waits.append, rng=random.Random(1))
    adapter = StubAdapter(answers)
    session.mount("http://stub/", adapter)
    return session, adapter, waits


def test_every_request_gets_the_policy_timeout():
    session, adapter, _ = _stub_session([(200, {}, b'{"data": []}')])
    session.get("http://stub/payments")
    assert adapter.timeouts == [(FAST.connect_timeout_seconds, FAST.read_timeout_seconds)]


def test_truncated_json_body_is_retried_and_the_parse_is_cached():
    session, adapter, waits = _stub_session(
        [(200, {}, b'{"data": [{"a": 1'), (200, {}, b'{"data": [{"a": 1}]}')]
    )
    response = session.get("http://stub/payments")
    assert response.json() == {"data": [{"a": 1}]}
    assert session.attempts == 2 and session.retries == 1 and len(waits) == 1
    assert "truncated" in next(iter(session.failures))


def test_counts_are_kept_per_path_and_in_total():
    session, _, _ = _stub_session(
        [(503, {"Retry-After": "0"}, b"{}"), (200, {}, b'{"data": []}'), (200, {}, b'{"data": []}')]
    )
    session.get("http://stub/payments?limit=5")
    session.get("http://stub/events/")
    counts = session.counts_by_path()
    assert counts["/payments"].to_dict() == {"requests": 2, "retries": 1, "failures": {"HTTP 503": 1}}
    assert counts["/events"].to_dict() == {"requests": 1, "retries": 0, "failures": {}}
    assert (session.attempts, session.retries, session.failures) == (3, 1, {"HTTP 503": 1})


def test_403_fails_at_once_naming_endpoint_and_status():
    session, adapter, waits = _stub_session([(403, {}, b'{"error": "forbidden"}')])
    with pytest.raises(ApiRequestError, match=r"GET /refunds answered HTTP 403 Forbidden") as err:
        session.get("http://stub/refunds?limit=5")
    assert err.value.status == 403 and session.attempts == 1 and waits == []


def test_503_honours_retry_after_and_gives_up_after_max_attempts():
    answers = [(503, {"Retry-After": "3"}, b"{}")] * FAST.max_attempts
    session, adapter, waits = _stub_session(answers)
    with pytest.raises(
        ApiRetriesExhausted, match=r"GET /events still failing after 4 attempts; last error: HTTP 503"
    ):
        session.get("http://stub/events")
    assert waits == [3.0, 3.0, 3.0]


def test_retry_after_is_capped():
    policy = RetryPolicy(max_attempts=2, max_retry_after_seconds=5)
    session, _, waits = _stub_session([(429, {"Retry-After": "3600"}, b"{}"), (200, {}, b"{}")], policy)
    session.get("http://stub/payments")
    assert waits == [5]


def test_backoff_is_exponential_with_jitter_and_capped():
    session = RetryingSession(RetryPolicy(backoff_seconds=1, max_backoff_seconds=8), rng=random.Random(3))
    for attempt, base in ((1, 1), (2, 2), (3, 4), (4, 8), (9, 8)):
        draws = {round(session.backoff(attempt), 6) for _ in range(20)}
        assert all(base / 2 <= d <= base for d in draws)
        assert len(draws) > 1  # jitter: not one fixed value


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now


def test_401_from_the_simulator_fails_at_once(payments_api):
    session = RetryingSession(FAST)
    with pytest.raises(ApiRequestError, match=r"GET /payments answered HTTP 401") as err:
        session.get(f"{payments_api.url}/payments", headers={"Authorization": "Bearer wrong"})
    assert err.value.status == 401
    assert payments_api.stats["total"] == 1  # no retry


def test_404_from_the_simulator_fails_at_once(payments_api):
    session = RetryingSession(FAST)
    with pytest.raises(ApiRequestError, match=r"GET /payouts answered HTTP 404"):
        session.get(f"{payments_api.url}/payouts", headers={"Authorization": f"Bearer {payments_api.token}"})
    assert payments_api.stats["total"] == 1


def test_429_from_the_simulators_rate_limit_waits_as_told(sandbox_config):
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # really wait (the limiter refills with time), but record the choice
        waits.append(seconds)
        time.sleep(seconds)

    with PaymentsApiServer(sandbox_config, rate_limit_per_s=2) as api:
        session = RetryingSession(FAST, sleep=sleep)
        headers = {"Authorization": f"Bearer {api.token}"}
        for _ in range(4):
            assert session.get(f"{api.url}/payment_methods", headers=headers).status_code == 200
        assert api.stats["total"] > 4  # some requests were answered 429 and repeated
    assert waits and all(w == 1.0 for w in waits)  # the simulator's Retry-After: 1, not the 0.01 s backoff
    assert session.failures == {"HTTP 429": len(waits)}


def test_read_timeout_is_retried_then_reported(payments_api):
    payments_api.set_faults(FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=2.0))
    session = RetryingSession(RetryPolicy(max_attempts=2, backoff_seconds=0.01, read_timeout_seconds=0.2))
    with pytest.raises(ApiRetriesExhausted, match="ReadTimeout"):
        session.get(f"{payments_api.url}/payments", headers={"Authorization": f"Bearer {payments_api.token}"})
    assert payments_api.stats["total"] == 2


@pytest.mark.parametrize("kind", ["reset", "truncated", "500"])
def test_each_fault_kind_is_retried(payments_api, kind):
    payments_api.set_faults(FaultConfig(rate=0.5, kinds=(kind,), seed=4))
    session = RetryingSession(RetryPolicy(max_attempts=20, backoff_seconds=0.001, max_backoff_seconds=0.01))
    headers = {"Authorization": f"Bearer {payments_api.token}"}
    for _ in range(6):
        body = session.get(f"{payments_api.url}/payments?limit=50", headers=headers).json()
        assert len(body["data"]) == 50
    assert session.retries > 0 and payments_api.stats["total"] == 6 + session.retries


def test_a_refused_connection_fails_after_a_few_quick_attempts_naming_the_host():
    """Nothing listens on the port: the default policy gives up after `refused_attempts` (not the ~1 min of
    backoff meant for transient faults), waiting seconds in all, and says where it tried and what to check."""
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    session = RetryingSession(RetryPolicy(), sleep=waits.append, rng=random.Random(1))
    with pytest.raises(ApiRequestError) as info:
        session.get(f"http://127.0.0.1:{port}/payments")
    assert not isinstance(info.value, ApiRetriesExhausted)
    assert not is_transient(info.value)  # its cause is a refused connection, but a step retry would not help
    message = str(info.value)
    assert f"GET /payments: connection to 127.0.0.1:{port} refused (3 attempts)" in message
    assert "is running" in message and "base URL" in message
    assert session.attempts == RetryPolicy().refused_attempts == 3
    assert sum(waits) < 10 and len(waits) == 2
    assert session.failures == {"connection refused": 3}
