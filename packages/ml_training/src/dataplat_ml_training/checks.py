"""Quality gates of a trained model, as pure functions and as Dagster asset checks.

The same functions decide at training time whether a model is *promoted* (the one batch scoring uses) and
report in the UI as asset checks, so the UI and the scorer can never disagree about what passed.

- `roc_auc_above_floor`: the test ROC AUC reaches a configured floor.
- `no_regression`: the new model's AUC is not worse than the model in service by more than a tolerance,
  both measured on the *same* (the new) test set when the feature schemas agree.
- `features_match_model_schema`: the feature table that scoring reads has the columns and types the model in
  service was trained on.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dataplat_ml_training.features import schema_differences, table_schema
from dataplat_ml_training.store import ModelStore


@dataclass(frozen=True)
class Gate:
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def auc_floor_gate(metrics: dict[str, Any], floor: float) -> Gate:
    auc = float(metrics["roc_auc"])
    return Gate(auc >= floor, {"roc_auc": round(auc, 4), "min_roc_auc": floor})


def regression_gate(metrics: dict[str, Any], baseline: dict[str, Any] | None, tolerance: float) -> Gate:
    """Passes with no model in service yet; otherwise the AUC may drop by at most `tolerance`."""
    auc = float(metrics["roc_auc"])
    if not baseline:
        return Gate(True, {"roc_auc": round(auc, 4), "previous_version": "none"})
    previous = float(baseline["roc_auc"])
    return Gate(
        auc >= previous - tolerance,
        {
            "roc_auc": round(auc, 4),
            "previous_version": baseline["version"],
            "previous_roc_auc": round(previous, 4),
            "previous_evaluated_on": baseline["evaluated_on"],
            "auc_change": round(auc - previous, 4),
            "max_auc_drop": tolerance,
        },
    )


def schema_gate(expected: dict[str, str], actual: dict[str, str], version: str) -> Gate:
    problems = schema_differences(expected, actual)
    return Gate(
        not problems,
        {
            "model_version": version,
            "problems": "; ".join(problems) or "none",
            "columns": len(actual),
        },
    )


StoreFor = Callable[[Any], ModelStore]  # the `artifacts` resource -> the model store


def model_checks(
    model_key: dg.AssetKey, model_name: str, store_for: StoreFor, min_auc: float, max_auc_drop: float
) -> list[dg.AssetChecksDefinition]:
    """Checks on the training asset, evaluated on the newest model in the store (the one just trained)."""

    def _latest(context):
        latest = store_for(context.resources.artifacts).latest(model_name)
        if latest is None:
            raise dg.Failure(f"no {model_name} model in the store: materialize {model_key.to_user_string()}")
        return latest

    @dg.asset_check(
        asset=model_key,
        name="roc_auc_above_floor",
        required_resource_keys={"artifacts"},
        blocking=True,  # a model below the floor must not be scored with in the same run
        description=f"Test ROC AUC of the newest model >= {min_auc}.",
    )
    def _floor(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        latest = _latest(context)
        gate = auc_floor_gate(latest.metadata["metrics"], min_auc)
        return dg.AssetCheckResult(
            passed=gate.passed, metadata={"model_version": latest.version, **gate.metadata}
        )

    @dg.asset_check(
        asset=model_key,
        name="no_regression",
        required_resource_keys={"artifacts"},
        blocking=True,
        description=f"Test ROC AUC at most {max_auc_drop} below the model in service before this one.",
    )
    def _regression(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        latest = _latest(context)
        gate = regression_gate(latest.metadata["metrics"], latest.metadata.get("baseline"), max_auc_drop)
        return dg.AssetCheckResult(
            passed=gate.passed, metadata={"model_version": latest.version, **gate.metadata}
        )

    return [_floor, _regression]


def schema_check(
    predictions_key: dg.AssetKey, features_table: str, model_name: str, store_for: StoreFor
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=predictions_key,
        name="features_match_model_schema",
        required_resource_keys={"warehouse", "artifacts"},
        description=f"{features_table} has the feature columns and types the model in service was trained on.",
    )
    def _schema(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        warehouse = context.resources.warehouse
        in_service = store_for(context.resources.artifacts).latest(model_name, promoted_only=True)
        if in_service is None:
            return dg.AssetCheckResult(passed=False, metadata={"problems": "no promoted model in the store"})
        expected = in_service.metadata["feature_schema"]
        # Only the model's columns are compared: a column added to the table does not bother the model.
        gate = schema_gate(
            expected, table_schema(warehouse, features_table, list(expected)), in_service.version
        )
        return dg.AssetCheckResult(passed=gate.passed, metadata=gate.metadata)

    return _schema
