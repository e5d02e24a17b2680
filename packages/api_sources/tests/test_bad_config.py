"""Bad RestApiIngestionComponent configuration is refused when the YAML loads, naming the key or the value.
(`merge` without a primary key and a key that is not a column: test_component.py.) Catalogue: docs/bad-inputs.md."""

import pytest
from conftest import attributes, component_defs, declared
from dataplat_core.observability import error_chain_text

PAYMENTS = declared("payments")["resources"][0]
CLIENT = declared("payments")["client"]


def _load_error(attrs) -> str:
    with pytest.raises(Exception) as err:
        with component_defs(attrs):
            pass
    return error_chain_text(err.value)


CASES = {
    "unknown_key": ({"page_sise": 10}, ["page_sise", "Extra inputs are not permitted", "defs.yaml:"]),
    "unknown_resource_key": ({"resources": [{**PAYMENTS, "primery_key": ["x"]}]}, ["primery_key", "Extra inputs are not permitted"]),
    "unknown_retry_key": ({"retry": {"max_attempt": 3}}, ["max_attempt", "Extra inputs are not permitted"]),
    "dataset_injection": ({"dataset": "payments_api; drop table x", "resources": [PAYMENTS]}, ["dataset: not a valid SQL identifier: 'payments_api; drop table x'"]),
    "table_name_quote": ({"resources": [{**PAYMENTS, "table_name": 'pay"ments'}]}, ["resources[payments].table: not a valid SQL identifier: 'pay\"ments'"]),
    "pipeline_name_injection": ({"pipeline_name": "p; drop", "resources": [PAYMENTS]}, ["pipeline_name: not a valid SQL identifier: 'p; drop'"]),
    "invalid_partition_start": ({"partition_start": "2026-02-30", "resources": [PAYMENTS]}, ["day is out of range for month"]),
    "invalid_initial_value": ({"initial_value": "yesterday", "resources": [PAYMENTS]}, ["Invalid isoformat string: 'yesterday'"]),
    "unknown_disposition": ({"resources": [{**PAYMENTS, "write_disposition": "upsert"}]}, ["write_disposition", "'upsert'"]),
    "no_retry": ({"retry": {"max_attempts": 0}}, ["max_attempts must be at least 1"]),
    "unknown_paginator": ({"client": {**CLIENT, "paginator": {"type": "next_token"}}}, ["paginator", "next_token"]),
    "paginator_field_typo": ({"client": {**CLIENT, "paginator": {"type": "cursor", "cursor_pth": "x"}}}, ["cursor_pth", "Extra inputs are not permitted"]),
    "unknown_auth": ({"client": {**CLIENT, "auth": {"type": "oauth3"}}}, ["auth", "'oauth3'"]),
    "no_data_selector": ({"client": {k: v for k, v in CLIENT.items() if k != "data_selector"}}, ["data_selector", "Field required"]),
    "no_columns": ({"resources": [{**PAYMENTS, "columns": {}}]}, ["resource 'payments': declare its columns"]),
    "unknown_column_type": ({"resources": [{**PAYMENTS, "columns": {**PAYMENTS["columns"], "amount": "money"}}]}, ["'money'"]),
    "column_injection": ({"resources": [{**PAYMENTS, "columns": {**PAYMENTS["columns"], "a b": "text"}}]}, ["resources[payments].columns.a b: not a valid SQL identifier"]),
    "cursor_not_a_column": ({"resources": [{**PAYMENTS, "endpoint": {**PAYMENTS["endpoint"], "incremental": {"cursor_path": "modified", "start_param": "since"}}}]}, ["resource 'payments': incremental cursor_path 'modified' is not one of its columns"]),
    "cursor_not_a_time": ({"resources": [{**PAYMENTS, "endpoint": {**PAYMENTS["endpoint"], "incremental": {"cursor_path": "order_id", "start_param": "since"}}}]}, ["resource 'payments': the incremental cursor 'order_id' must be a timestamp"]),
    "same_table_twice": ({"resources": [PAYMENTS, {**PAYMENTS, "name": "payments2", "table_name": "payments"}]}, ["two resources load the same table: ['payments']"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_configuration_is_refused_at_load_naming_it(case):
    overrides, expected = CASES[case]
    message = _load_error(attributes(**overrides))
    for fragment in expected:
        assert fragment in message, (fragment, message[-2000:])
