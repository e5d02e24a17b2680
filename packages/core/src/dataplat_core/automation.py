"""Declarative Automation on the platform: what "an upstream changed" means, and the sensor that evaluates it.

Loaders report a data version that names the content of what they loaded (`warehouse.table_version`): a Sling
stream or a dlt resource that moved no row reports the same version as its previous materialization. Dagster's
`eager()` condition counts every materialization of an upstream as an update, so a no-change ingestion run
would rebuild every mart, the model and the report. `upstream_changed()` is `eager()` with one substitution:
an upstream counts as updated only when its data version changed (`AutomationCondition.data_version_changed`),
still ignoring an upstream updated by a run that also ran the asset itself (`executed_with_root_target`), so
an asset materializes once per change, not once more for its own run's upstreams.

In YAML (a component's `post_processing`), with `template_vars_module: dataplat_core.automation`:

    post_processing:
      assets:
        - target: "*"
          attributes:
            automation_condition: "{{ upstream_changed }}"

Dagster's own default automation sensor is created STOPPED (Dagster 1.13), so a location's conditions would
never be evaluated by the daemon: `automation_sensor` declares one that runs (`platform_definitions` adds it to
every code location that has assets with a condition).
"""

from __future__ import annotations

import dagster as dg

LABEL = "upstream_changed"
SENSOR_NAME = "dataplat_automation"


@dg.template_var  # `{{ upstream_changed }}` in YAML, with `template_vars_module: dataplat_core.automation`
def upstream_changed() -> dg.AutomationCondition:
    """`AutomationCondition.eager()`, where an upstream counts as updated only when its data version changed."""
    changed = (
        dg.AutomationCondition.data_version_changed() & ~dg.AutomationCondition.executed_with_root_target()
    ).with_label("data_version_changed_without_root")
    return dg.AutomationCondition.eager().replace("newly_updated_without_root", changed).with_label(LABEL)


def automation_sensor(defs: dg.Definitions) -> dg.AutomationConditionSensorDefinition | None:
    """A running automation condition sensor for the location's assets that declare a condition (None when
    none does). The daemon evaluates it with the workspace's whole asset graph, so a condition on an asset of
    another code location (analytics on ingestion's tables) sees that location's materializations."""
    keys = []  # read from the definitions as declared: resolving the asset graph needs the resources
    for item in defs.assets or []:
        if isinstance(item, dg.AssetsDefinition):
            keys += [k for k, c in item.automation_conditions_by_key.items() if c is not None]
        elif isinstance(item, dg.AssetSpec) and item.automation_condition is not None:
            keys.append(item.key)
    if not keys:
        return None
    return dg.AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=dg.AssetSelection.assets(*keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the automation conditions of this code location's assets (running by default).",
    )
