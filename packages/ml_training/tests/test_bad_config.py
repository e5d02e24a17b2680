"""Bad RefundModelComponent configuration is refused when the YAML loads, naming the value.
Catalogue: docs/bad-inputs.md."""

import pytest
from conftest import component_defs
from dataplat_core.observability import error_chain_text

CASES = {
    "invalid_schedule_cron": ({"retraining": {"schedule_cron": "every monday"}}, ["invalid cron schedule 'every monday'"]),
    "invalid_automation_cron": (
        {"retraining": {"automation_condition": "on_cron", "automation_cron": "61 * * * *"}},
        ["Invalid cron schedule: 61 * * * *"],
    ),
    "schema_injection": ({"schema_name": "ml; drop table x"}, ["not a valid SQL identifier: 'ml; drop table x'"]),
    "unknown_key": ({"retrainig": {}}, ["retrainig", "Extra inputs are not permitted"]),
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
