"""The rest_api configuration and the page -> Arrow step, without a server."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from dataplat_api_sources.arrow import SchemaContractViolation, page_to_table
from dataplat_api_sources.partitions import Window
from dataplat_api_sources.source import PAYMENTS_ENDPOINTS, ResourceSpec, payments_source, rest_api_config

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = Window(datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC))
SPECS = [
    ResourceSpec("payments", "merge", ("payment_id",)),
    ResourceSpec("events", "append", ("event_id",)),
    ResourceSpec("payment_methods", "replace", ("code",)),
]
ROW = {"payment_id": 1, "order_id": 2, "amount": 9.99, "currency": "EUR", "method": "card", "status": "succeeded",
       "created_at": "2026-01-03T10:00:00Z", "updated_at": "2026-01-03T11:00:00Z"}  # fmt: skip


def _config(window=None):
    return rest_api_config(
        base_url="http://api/", token="t0ken", resources=SPECS, window=window, initial_value=START
    )


def test_client_uses_bearer_auth_and_the_apis_cursor_pagination():
    client = _config()["client"]
    assert client["auth"] == {"type": "bearer", "token": "t0ken"}
    assert client["paginator"] == {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}


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
    source = payments_source(base_url="http://127.0.0.1:9", token="t", resources=SPECS, initial_value=START)
    assert set(source.resources) == {"payments", "events", "payment_methods"}


def test_page_becomes_a_typed_arrow_table():
    table = page_to_table([ROW, {**ROW, "payment_id": 2}], PAYMENTS_ENDPOINTS["payments"].columns)
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
    table = page_to_table(page, PAYMENTS_ENDPOINTS["payments"].columns, contract)
    assert ("risk_score" in table.column_names) is columns and table.num_rows == rows


def test_new_field_under_freeze_names_the_column():
    page = [ROW, {**ROW, "risk_score": 0.3}]  # only the second row carries it
    with pytest.raises(SchemaContractViolation, match=r"'payments' sent new field\(s\) \['risk_score'\]"):
        page_to_table(page, PAYMENTS_ENDPOINTS["payments"].columns, "freeze", "payments")
