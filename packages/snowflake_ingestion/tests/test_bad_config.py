"""Bad FileIngestionComponent configuration is refused when the YAML loads (`dg check defs`, code server start),
naming the key or the value; nothing reaches SQL. The catalogue is docs/bad-inputs.md."""

import pytest
from dataplat_core.observability import error_chain_text
from files_support import COLUMNS, file_defs


def _load_error(**overrides) -> str:
    """Every message in the exception chain of loading the component with `overrides`."""
    with pytest.raises(Exception) as err:
        with file_defs(**overrides):
            pass
    return error_chain_text(err.value)


CASES = {
    "unknown_key": ({"colums": {"a": "BIGINT"}}, ["colums", "Extra inputs are not permitted", "defs.yaml:"]),
    "unknown_nested_key": ({"reject_rate": {"warn": 0.1, "fial": 0.2}}, ["fial", "Extra inputs are not permitted"]),
    "table_injection": ({"table": "raw_files.orders; drop table x"}, ["not a valid SQL identifier: 'orders; drop table x'"]),
    "table_quote": ({"table": 'raw_files.a"b'}, ["not a valid SQL identifier: 'a\"b'"]),
    "schema_whitespace": ({"table": "raw files.sales"}, ["not a valid SQL identifier: 'raw files'"]),
    "column_injection": (
        {"columns": {**COLUMNS, "x; drop table y": "VARCHAR"}},
        ["not a valid SQL identifier: 'x; drop table y'"],
    ),
    "type_injection": (
        {"columns": {**COLUMNS, "amount": "DECIMAL(12,2)); drop table x; --"}},
        ["column type 'DECIMAL(12,2)); drop table x; --' is not supported"],
    ),
    "primary_key_not_declared": ({"primary_key": ["order_id", "nope"]}, ["must name declared columns (missing: ['nope'])"]),
    "invalid_start_date": ({"partition_start_date": "2026-13-01"}, ["partition_start_date", "month must be in 1..12"]),
    "end_not_after_start": (
        {"partition_end_date": "2025-12-31"},
        ["partition_end_date (2025-12-31) must be after partition_start_date (2026-01-01)"],
    ),
    "delimiter": ({"delimiter": ";;"}, ["delimiter must be one character"]),
    "subfolder_traversal": ({"landing_subfolder": "../etc"}, ["landing_subfolder must be a relative folder without '..'"]),
    "reject_rate_order": ({"reject_rate": {"warn": 0.5, "fail": 0.1}}, ["must not exceed reject_rate.fail"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_configuration_is_refused_at_load_naming_it(case):
    overrides, expected = CASES[case]
    message = _load_error(**overrides)
    for fragment in expected:
        assert fragment in message, (fragment, message[-2000:])
