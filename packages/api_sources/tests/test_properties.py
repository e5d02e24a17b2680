"""Property-based tests (hypothesis): partition windows and the retry/backoff policy."""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from dataplat_api_sources.http import ApiRetriesExhausted, RetryingSession, RetryPolicy, parse_retry_after
from dataplat_api_sources.partitions import (
    Window,
    incremental_window_config,
    iso_utc,
    partition_window,
    to_utc,
)
from http_support import StubAdapter
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=100, deadline=None)


@dataclass
class PartitionContext:
    """What `partition_window` reads from a Dagster execution context (one key or a backfill's key range)."""

    partition_time_window: Any
    has_partition_key: bool = True
    has_partition_key_range: bool = False


@settings(max_examples=50, deadline=None)
@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    offset=st.integers(0, 100),
    days=st.integers(1, 20),
    split=st.data(),
)
def test_daily_partition_windows_tile_without_gaps_or_overlaps(start, offset, days, split):
    end = start + timedelta(days=offset + days)
    partitions = dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_date=end.isoformat())
    keys = partitions.get_partition_keys(current_time=datetime(2200, 1, 1))[offset : offset + days]
    assert len(keys) == days
    windows = [partition_window(PartitionContext(partitions.time_window_for_partition_key(k))) for k in keys]
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.end == after.start  # no gap, no overlap
    assert all(w.end - w.start == timedelta(days=1) and w.start.tzinfo is not None for w in windows)
    assert len({w.label for w in windows}) == len(windows)
    # A single-run backfill of any sub-range reads exactly the union of its days.
    i = split.draw(st.integers(0, len(keys) - 1))
    j = split.draw(st.integers(i, len(keys) - 1))
    # A range's time window, as Dagster gives it to a backfill run: first key's start to last key's end.
    whole = dg.TimeWindow(
        partitions.time_window_for_partition_key(keys[i]).start,
        partitions.time_window_for_partition_key(keys[j]).end,
    )
    backfill = partition_window(
        PartitionContext(whole, has_partition_key=False, has_partition_key_range=True)
    )
    assert (backfill.start, backfill.end) == (windows[i].start, windows[j].end)
    config = incremental_window_config("updated_at", "since", "until", backfill, to_utc("1970-01-01"))
    assert (config["initial_value"], config["end_value"]) == (backfill.start, backfill.end)
    assert config["range_start"] == "closed" and config["range_end"] == "open"  # [start, end)


@SETTINGS
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()))
def test_iso_utc_round_trips_any_aware_datetime(value):
    assert to_utc(iso_utc(value)) == value.astimezone(UTC)
    assert iso_utc(value).endswith("Z")


@SETTINGS
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(0)),
)
def test_a_window_never_runs_backwards(start, length):
    with pytest.raises(ValueError):
        Window(start, start + length)


POLICIES = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 8),
    backoff_seconds=st.floats(0, 5),
    max_backoff_seconds=st.floats(0, 60),
    max_retry_after_seconds=st.floats(0, 300),
)


@SETTINGS
@given(policy=POLICIES, attempt=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_backoff_is_bounded_by_half_the_base_and_the_cap(policy, attempt, seed):
    base = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** (attempt - 1))
    wait = RetryingSession(policy, rng=random.Random(seed)).backoff(attempt)
    assert base / 2 <= wait <= base <= policy.max_backoff_seconds


# One failed answer: a retryable status with or without a Retry-After (seconds, an HTTP date or garbage).
FAILURES = st.tuples(
    st.sampled_from([408, 429, 500, 502, 503, 504]),
    st.one_of(
        st.none(), st.integers(0, 10_000).map(str), st.just("Wed, 21 Oct 2015 07:28:00 GMT"), st.just("soon")
    ),
)


@SETTINGS
@given(policy=POLICIES, failures=st.lists(FAILURES, max_size=10), seed=st.integers(0, 2**32))
def test_retry_waits_honour_retry_after_capped_else_backoff_and_attempts_are_bounded(policy, failures, seed):
    answers = [(status, {"Retry-After": after} if after else {}, b"{}") for status, after in failures]
    answers.append((200, {}, b'{"data": []}'))
    waits: list[float] = []
    session = RetryingSession(policy, sleep=waits.append, rng=random.Random(seed))
    session.mount("http://stub/", StubAdapter(answers))
    if len(failures) >= policy.max_attempts:
        with pytest.raises(ApiRetriesExhausted, match=f"after {policy.max_attempts} attempts"):
            session.get("http://stub/payments")
    else:
        assert session.get("http://stub/payments").json() == {"data": []}
    used = min(len(failures) + 1, policy.max_attempts)
    assert session.attempts == used and len(waits) == used - 1 == session.retries
    for attempt, ((_, after), wait) in enumerate(zip(failures, waits, strict=False), start=1):
        told = parse_retry_after(after)
        if told is not None:
            assert wait == min(told, policy.max_retry_after_seconds)  # honoured, capped
        else:
            base = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** (attempt - 1))
            assert base / 2 <= wait <= base
        assert 0 <= wait <= max(policy.max_retry_after_seconds, policy.max_backoff_seconds)
