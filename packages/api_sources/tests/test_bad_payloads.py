"""Bad API payloads, one test each, through the component loaded from YAML against a real HTTP server on
127.0.0.1 that answers scripted pages (the simulator's own faults are covered by test_component/test_http).

Outcome for every payload the declared contract cannot hold: the run fails naming the endpoint or the resource,
field and value, and nothing of that load is written (what an earlier run loaded stays as it was).
The catalogue is docs/bad-inputs.md.
"""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import duckdb
import pytest
from conftest import attributes, component_defs
from dataplat_api_sources.declaration import RestApiConnection
from dataplat_core.duckdb_warehouse import WarehouseDuckDB

TOKEN = "scripted-token"


class ScriptedApi:
    """Serves `pages[i]` = (status, content type, body) for `?cursor=i` (no cursor: page 0), on any path."""

    def __init__(self, pages):
        self.pages, self.requests = list(pages), 0

    def __enter__(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                api.requests += 1
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                status, content_type, body = api.pages[int(query.get("cursor", 0))]
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def page(rows, next_cursor=None):
    return 200, "application/json", json.dumps({"data": rows, "next_cursor": next_cursor}).encode()


def payment(i, **changes):
    row = {"payment_id": i, "order_id": 100 + i, "amount": 10.5, "currency": "EUR", "method": "card",
           "status": "succeeded", "created_at": "2026-01-02T00:00:00Z", "updated_at": f"2026-01-02T00:00:{i:02d}Z"}  # fmt: skip
    return {**row, **changes}


@pytest.fixture
def scripted(tmp_path):
    """`scripted(pages)` -> (run, api): `run()` loads `payments` once from the scripted server; `rows()` reads
    the warehouse."""
    stack = contextlib.ExitStack()
    path = tmp_path / "warehouse.duckdb"

    def make(pages):
        api = stack.enter_context(ScriptedApi(pages))
        retry = {"max_attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.02}
        _, defs = stack.enter_context(component_defs(attributes(only=["payments"], retry=retry)))
        resources = {
            "payments_api": RestApiConnection(base_url=api.url, token=TOKEN),
            "warehouse": WarehouseDuckDB(database=str(path)),
        }
        job = dg.define_asset_job(
            "load", selection=dg.AssetSelection.all() - dg.AssetSelection.all_asset_checks()
        )
        defs = dg.Definitions.merge(defs, dg.Definitions(resources=resources, jobs=[job]))

        def run():
            result = defs.resolve_job_def("load").execute_in_process(raise_on_error=False)
            failure = next((e for e in result.all_events if e.is_step_failure), None)
            data = failure.step_failure_data if failure else None
            message = (
                (data.user_failure_data.description if data.user_failure_data else data.error.message)
                if data
                else ""
            )
            return result, message

        return run, api

    def rows():
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(
                "select payment_id, amount, status from payments_api.payments order by 1"
            ).fetchall()

    make.rows = rows
    with stack:
        yield make


def _first_load(scripted):
    """One good load, so each failure below can show the earlier data is untouched."""
    run, api = scripted([page([payment(1), payment(2)])])
    assert run()[0].success
    return run, api


def test_malformed_json_body_is_retried_then_fails_naming_the_endpoint(scripted):
    run, api = _first_load(scripted)
    api.pages = [(200, "application/json", b'{"data": [{"payment_id": 1,')]
    result, message = run()
    assert not result.success and api.requests == 1 + 3  # the good load, then every attempt
    assert "GET /payments still failing after 3 attempts" in message and "invalid JSON" in message
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]


def test_html_error_page_with_200_is_retried_then_fails_naming_it(scripted):
    run, api = _first_load(scripted)
    api.pages = [(200, "text/html; charset=utf-8", b"<html><body>Down for maintenance</body></html>")]
    result, message = run()
    assert not result.success
    assert (
        "GET /payments still failing" in message and "not a JSON body" in message and "text/html" in message
    )
    assert "Down for maintenance" in message
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]


@pytest.mark.parametrize("value", ["12.50", "twelve", [1]])
def test_wrong_type_for_amount_fails_naming_resource_field_and_value(scripted, value):
    run, api = _first_load(scripted)
    api.pages = [page([payment(3), payment(2, amount=value, updated_at="2026-01-03T00:00:00Z")])]
    result, message = run()
    assert not result.success
    assert f"resource 'payments' sent {value!r} for field 'amount' (row 1 of the page)" in message, message
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]  # nothing of the load written


@pytest.mark.parametrize("row", [{"payment_id": None}, {"payment_id": "<absent>"}], ids=["null", "missing"])
def test_null_or_missing_primary_key_fails_naming_the_key(scripted, row):
    run, api = _first_load(scripted)
    bad = payment(3, **row)
    if bad["payment_id"] == "<absent>":
        del bad["payment_id"]
    api.pages = [page([payment(4), bad])]
    result, message = run()
    assert not result.success
    assert "sent 1 row(s) with a missing or null key field 'payment_id' (first: row 1 of the page)" in message
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]


def test_duplicate_records_across_pages_merge_to_the_newest(scripted):
    newer = payment(2, status="refunded", updated_at="2026-01-02T00:01:00Z")
    run, api = scripted([page([payment(1), payment(2)], "1"), page([newer, payment(3)])])
    result, _ = run()
    assert result.success and api.requests == 2
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "refunded"), (3, 10.5, "succeeded")]


def test_empty_page_loads_nothing_and_keeps_what_was_loaded(scripted):
    run, api = _first_load(scripted)
    api.pages = [page([])]
    result, _ = run()
    assert result.success and api.requests == 2
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]


def test_page_without_the_data_envelope_fails_naming_what_came(scripted):
    """A changed envelope (`items` instead of `data`) would load nothing and succeed: it fails instead."""
    run, api = _first_load(scripted)
    api.pages = [(200, "application/json", json.dumps({"items": [payment(3)], "next_cursor": None}).encode())]
    result, message = run()
    assert not result.success and api.requests == 2  # refused at once: retrying cannot change the shape
    assert (
        "GET /payments: the page is not the API's envelope (no list at 'data'): got ['items', 'next_cursor']"
        in message
    )
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]


def test_an_api_that_is_down_fails_at_once_naming_the_host_and_keeps_the_data(scripted):
    """Nothing listens at the API's address any more (a stopped server, a wrong URL): the load fails after the
    client's few quick attempts with the host and what to check, the step is not retried, and what an earlier
    run loaded stays as it was."""
    run, api = _first_load(scripted)
    host = api.url.removeprefix("http://")
    api.__exit__(None, None, None)  # the server stops: its port refuses connections
    result, message = run()
    assert not result.success
    assert f"GET /payments: connection to {host} refused (3 attempts): nothing listens there" in message
    assert "is running" in message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert scripted.rows() == [(1, 10.5, "succeeded"), (2, 10.5, "succeeded")]
