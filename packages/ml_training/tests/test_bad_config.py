"""Bad ModelTrainingComponent configuration is refused when the YAML loads, naming the value.
Catalogue: docs/bad-inputs.md."""

import pytest
from conftest import REFUND_MODEL, component_defs
from dataplat_core.observability import error_chain_text

CASES = {
    "invalid_schedule_cron": ({"retraining": {"schedule_cron": "every monday"}}, ["invalid cron schedule 'every monday'"]),
    "invalid_automation_cron": (
        {"retraining": {"automation_condition": "on_cron", "automation_cron": "61 * * * *"}},
        ["Invalid cron schedule: 61 * * * *"],
    ),
    "schema_injection": ({"schema_name": "ml; drop table x"}, ["not a valid SQL identifier: 'ml; drop table x'"]),
    "unknown_key": ({"retrainig": {}}, ["retrainig", "Extra inputs are not permitted"]),
    "unknown_source_in_sql": ({"sources": {k: v for k, v in REFUND_MODEL["sources"].items() if k != "refunds"}}, ["the features SQL reads $refunds, which no source declares"]),
    "source_table_injection": ({"sources": {**REFUND_MODEL["sources"], "orders": {"table": "raw_shop.orders; drop", "asset_key": "raw_shop/orders"}}}, ["not a valid SQL identifier"]),
    "no_sql_file": ({"features": {**REFUND_MODEL["features"], "sql": "missing.sql"}}, ["features.sql: no file", "missing.sql"]),
    "role_twice": ({"features": {**REFUND_MODEL["features"], "numeric": ["total_amount", "order_id"]}}, ["a column has one role: ['order_id'] declared twice"]),
    "log_scaled_not_numeric": ({"features": {**REFUND_MODEL["features"], "log_scaled": ["channel"]}}, ["log_scaled columns must be numeric features: ['channel']"]),
    "no_features": ({"features": {**REFUND_MODEL["features"], "categorical": [], "numeric": [], "log_scaled": []}}, ["declare at least one categorical or numeric feature"]),
    "no_model_name": ({"model_name": None}, ["model_name"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_configuration_is_refused_at_load_naming_it(case):
    attributes, expected = CASES[case]
    with pytest.raises(Exception) as err:
        with component_defs(attributes):
            pass
    message = error_chain_text(err.value)
    for fragment in expected:
        assert fragment in message, (fragment, message[-2000:])
