"""The rest_api configuration built from a declaration, and the page -> Arrow step, without a server."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pyarrow as pa
import pytest
from conftest import declared
from dataplat_api_sources.arrow import SchemaContractViolation, page_to_table
from dataplat_api_sources.declaration import ApiResource, Auth, Client, auth_config
from dataplat_api_sources.partitions import Window
from dataplat_api_sources.source import declared_source, rest_api_config

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = Window(datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC))
PAYMENTS = declared("payments")
CLIENT = Client(**PAYMENTS["client"])
SPECS = [ApiResource(**r) for r in PAYMENTS["resources"] if r["name"] != "refunds"]
COLUMNS = SPECS[0].columns
ROW = {"payment_id": 1, "order_id": 2, "amount": 9.99, "currency": "EUR", "method": "card", "status": "succeeded",
       "created_at": "2026-01-03T10:00:00Z", "updated_at": "2026-01-03T11:00:00Z"}  # fmt: skip


def _config(window=None):
    return rest_api_config(
        base_url="http://api/", auth={"type": "bearer", "token": "t0ken"}, client=CLIENT, resources=SPECS,
        window=window, initial_value=START,
    )  # fmt: skip


def test_client_carries_the_declared_auth_and_paginator_and_every_endpoint_the_declared_envelope():
    config = _config()
    assert config["client"]["auth"] == {"type": "bearer", "token": "t0ken"}
    assert config["client"]["paginator"] == {
        "type": "cursor",
        "cursor_path": "next_cursor",
        "cursor_param": "cursor",
    }
    for resource in config["resources"]:
        assert resource["endpoint"]["data_selector"] == "data"
        assert resource["endpoint"]["params"] == {"limit": 500}


def test_a_page_number_api_keeps_its_own_paginator_selector_and_parameters():
    shipments = declared("shipments")
    config = rest_api_config(
        base_url="http://carrier/v2", auth=None, client=Client(**shipments["client"]),
        resources=[ApiResource(**r) for r in shipments["resources"]], window=DAY, initial_value=START,
    )  # fmt: skip
    assert config["client"]["paginator"] == {
        "type": "page_number", "page_param": "page", "base_page": 1, "total_path": "meta.total_pages"
    }  # fmt: skip
    endpoint = config["resources"][0]["endpoint"]
    assert (endpoint["data_selector"], endpoint["params"]) == ("results", {"per_page": 100})
    incremental = endpoint["incremental"]
    assert (incremental["start_param"], incremental["end_param"]) == ("modified_after", "modified_before")


@pytest.mark.parametrize(
    ("auth", "secrets", "expected"),
    [
        (Auth(type="bearer"), {"token": "t"}, {"type": "bearer", "token": "t"}),
        (Auth(type="api_key", name="X-Api-Key"), {"api_key": "k"},
         {"type": "api_key", "name": "X-Api-Key", "location": "header", "api_key": "k"}),
        (Auth(type="api_key", name="key", location="query"), {"api_key": "k"},
         {"type": "api_key", "name": "key", "location": "query", "api_key": "k"}),
        (Auth(type="http_basic"), {"username": "u", "password": "p"},
         {"type": "http_basic", "username": "u", "password": "p"}),
        (Auth(type="none"), {}, None),
    ],
)  # fmt: skip
def test_each_auth_scheme_takes_its_secret_from_the_connection_resource(auth, secrets, expected):
    assert auth_config(auth, SimpleNamespace(base_url="http://api", **secrets), "some_api") == expected


def test_a_missing_secret_names_the_resource_and_the_field():
    with pytest.raises(ValueError, match="auth type 'api_key' needs api_key on resource 'carrier_api'"):
        auth_config(Auth(type="api_key"), SimpleNamespace(base_url="http://api", api_key=None), "carrier_api")


def test_resources_carry_dispositions_keys_and_windows():
    resources = {r["name"]: r for r in _config(DAY)["resources"]}
    assert resources["payments"]["write_disposition"] == "merge"
    assert resources["payments"]["primary_key"] == ["payment_id"]
    incremental = resources["payments"]["endpoint"]["incremental"]
    assert (incremental["start_param"], incremental["end_param"]) == ("updated_since", "updated_until")
    assert (incremental["initial_value"], incremental["end_value"]) == (DAY.start, DAY.end)
    assert resources["events"]["endpoint"]["incremental"]["start_param"] == "created_since"
    # Re-running a window must not duplicate append-only rows: insert-only merge on the key.
    assert resources["events"]["write_disposition"] == {"disposition": "merge", "strategy": "insert-only"}
    assert "incremental" not in resources["payment_methods"]["endpoint"]  # full snapshot every time
    assert resources["payment_methods"]["write_disposition"] == "replace"


def test_unpartitioned_append_with_a_key_is_insert_only_merge_from_initial_value():
    # A run killed before dlt stored its cursor is re-read in full: insert-only merge skips what was loaded
    # (test_load_crash.py::test_kill_9_mid_unpartitioned_load_then_rerun_does_not_duplicate_events).
    resources = {r["name"]: r for r in _config()["resources"]}
    assert resources["events"]["write_disposition"] == {"disposition": "merge", "strategy": "insert-only"}
    assert resources["payments"]["endpoint"]["incremental"]["initial_value"] == START
    assert "end_value" not in resources["payments"]["endpoint"]["incremental"]


def test_building_the_source_does_no_io():
    # Nothing listens on port 9: building must not connect (only extraction does).
    source = declared_source(
        name="payments_api", base_url="http://127.0.0.1:9", auth=None, client=CLIENT, resources=SPECS,
        initial_value=START,
    )  # fmt: skip
    assert set(source.resources) == {"payments", "events", "payment_methods"}


def test_page_becomes_a_typed_arrow_table():
    table = page_to_table([ROW, {**ROW, "payment_id": 2}], COLUMNS)
    assert table.num_rows == 2
    assert table.schema.field("payment_id").type == pa.int64()
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert table["updated_at"][0].as_py() == datetime(2026, 1, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("contract", "columns", "rows"),
    [("evolve", True, 2), ("discard_value", False, 2), ("discard_row", False, 1)],
)
def test_new_fields_follow_the_contract(contract, columns, rows):
    page = [ROW, {**ROW, "payment_id": 2, "risk_score": 0.3}]
    table = page_to_table(page, COLUMNS, contract)
    assert ("risk_score" in table.column_names) is columns and table.num_rows == rows


def test_new_field_under_freeze_names_the_column():
    page = [ROW, {**ROW, "risk_score": 0.3}]  # only the second row carries it
    with pytest.raises(SchemaContractViolation, match=r"'payments' sent new field\(s\) \['risk_score'\]"):
        page_to_table(page, COLUMNS, "freeze", "payments")
