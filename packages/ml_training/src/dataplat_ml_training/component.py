"""ModelTrainingComponent: a binary classifier declared in YAML and SQL - its feature table, time-split training
with stored versions, quality gates and batch scoring.

```yaml
type: dataplat_ml_training.components.ModelTrainingComponent
attributes:
  model_name: churn_model             # asset <schema>/churn_model; <model>_features, <model>_predictions
  sources:                            # what `$accounts` etc. in the SQL stand for; their assets are upstream
    accounts: {table: raw_crm.accounts, asset_key: raw_crm/accounts}
  features:
    sql: features.sql                 # a SELECT beside this file
    key: account_id
    time: observed_at
    label: churned
    categorical: [plan, country]
    numeric: [tenure_days, monthly_spend]
```
Assets (all in the `warehouse` pool: DuckDB allows one writer per file, and reading takes the same lock):

- `<schema>/<features_table>`: the feature table, rebuilt in the warehouse from the declared SELECT.
- `<schema>/<model_name>`: trains on matured rows, evaluates on the latest ones, stores the model in the
  model store and records the metrics as materialization metadata.
- `<schema>/<predictions_table>`: scores recent rows whose label is not yet 1 with the model in service.

Upstream tables are depended on by asset key only (the ingestion code location materializes them).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from dataplat_core.artifacts import ArtifactStore
from dataplat_core.automation import upstream_changed
from dataplat_core.checks import checks_step, not_null_check, primary_key_check, table_checks
from dataplat_core.observability import table_metadata
from dataplat_core.warehouse import WAREHOUSE_POOL, Warehouse, quote_identifier, quote_table

from dataplat_ml_training.checks import auc_floor_gate, model_checks, regression_gate, schema_check
from dataplat_ml_training.features import FeatureRoles, features_select
from dataplat_ml_training.model import Estimator, ModelParams
from dataplat_ml_training.store import ModelStore


class SourceTable(dg.Model):
    """An upstream table the features SQL reads (as `$<name>`) and the asset that materializes it."""

    table: str
    asset_key: str


@dataclass
class FeaturesConfig(dg.Resolvable):
    """The feature table: a SELECT and the roles of its columns."""

    # A `.sql` file beside defs.yaml, or the SELECT itself; `$name` stands for `sources[name].table`.
    sql: str
    key: str
    time: str
    label: str  # 0/1
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    log_scaled: list[str] = field(default_factory=list)  # numerics a linear model sees as log1p

    def roles(self) -> FeatureRoles:
        return FeatureRoles(
            self.key,
            self.time,
            self.label,
            tuple(self.categorical),
            tuple(self.numeric),
            tuple(self.log_scaled),
        )

    def text(self, base: Path) -> str:
        path = base / self.sql
        if self.sql.endswith(".sql"):
            if not path.is_file():
                raise ValueError(f"features.sql: no file {path}")
            return path.read_text()
        return self.sql


@dataclass
class SplitConfig(dg.Resolvable):
    # The newest `test_fraction` of labeled rows (by the time column) is the test set ...
    test_fraction: float = 0.2
    # ... unless a fixed cutoff (ISO timestamp, UTC if naive) is given: train before it, test from it.
    cutoff: str | None = None
    # Rows younger than this (relative to the newest row) may still get a positive label: not trained on.
    label_maturity_days: int = 14


@dataclass
class ModelConfig(dg.Resolvable):
    # Defaults live in ModelParams (one place); the tuning keys other than `estimator`, `random_state` and
    # `threshold` apply to hist_gradient_boosting (`max_iter` also bounds the logistic solver).
    estimator: Estimator = ModelParams.estimator
    random_state: int = ModelParams.random_state
    max_iter: int = ModelParams.max_iter
    learning_rate: float = ModelParams.learning_rate
    max_leaf_nodes: int = ModelParams.max_leaf_nodes
    min_samples_leaf: int = ModelParams.min_samples_leaf
    l2_regularization: float = ModelParams.l2_regularization
    early_stopping: bool = ModelParams.early_stopping
    # Probability at which a row counts as predicted positive for precision and recall.
    threshold: float = ModelParams.threshold

    def params(self) -> ModelParams:
        return ModelParams(
            estimator=self.estimator,
            random_state=self.random_state,
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            threshold=self.threshold,
        )


@dataclass
class StoreConfig(dg.Resolvable):
    # A folder or an fsspec URL (s3://bucket/models needs the `s3` extra). Unset: the `models` place of the
    # platform's `artifacts` resource (ARTIFACTS_URL).
    url: str | None = None


@dataclass
class ChecksConfig(dg.Resolvable):
    min_roc_auc: float = 0.6
    max_auc_drop: float = 0.02


@dataclass
class RetrainingConfig(dg.Resolvable):
    # On the training asset: `eager` retrains whenever the feature table changed (`upstream_changed`); `on_cron`
    # retrains once per `automation_cron` tick after the features were updated since the tick; `none` leaves it
    # to the schedule. The feature table and the predictions follow their upstreams (`upstream_changed`).
    automation_condition: Literal["eager", "on_cron", "none"] = "eager"
    automation_cron: str = "0 4 * * *"
    # The weekly schedule: rebuild features, retrain, score (a job over the three assets and their checks).
    schedule_cron: str = "0 3 * * 1"
    timezone: str = "UTC"
    schedule_running: bool = False


@dataclass
class ModelTrainingComponent(dg.Component, dg.Resolvable):
    """A binary classifier: feature table, time-split training with stored versions, quality checks, scoring."""

    model_name: str
    features: FeaturesConfig
    sources: dict[str, SourceTable] = field(default_factory=dict)
    schema_name: str = "ml"
    features_table: str | None = None  # default: <model_name>_features
    predictions_table: str | None = None  # default: <model_name>_predictions
    # The score's column in the predictions table.
    predictions_column: str = "probability"
    group_name: str = "ml"
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    retraining: RetrainingConfig = field(default_factory=RetrainingConfig)
    # Scoring covers rows of the last N days (relative to the newest row) whose label is not 1 yet.
    scoring_window_days: int = 14

    def __post_init__(self) -> None:
        self.features_table = self.features_table or f"{self.model_name}_features"
        self.predictions_table = self.predictions_table or f"{self.model_name}_predictions"
        self.roles = self.features.roles()
        self._select: str | None = None

    # --- names -------------------------------------------------------------------------------------------
    def _table(self, name: str) -> str:
        return f"{self.schema_name}.{name}"

    def _key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.schema_name, name])

    def store_for(self, artifacts: ArtifactStore) -> ModelStore:
        """The model store: `store.url`, else the artifacts' `models` (resolved by the run worker)."""
        return ModelStore(self.store.url or artifacts.location("models"))

    def validate(self, base: Path) -> None:
        """Check names and read the features SQL (relative to `base`, the defs.yaml's folder): bad names and
        SQL are refused when the code location loads, not when a run starts. `build_defs` calls it."""
        for table in (self.features_table, self.predictions_table, self.model_name):
            quote_table(self._table(table))
        quote_identifier(self.predictions_column)
        tables = {name: source.table for name, source in self.sources.items()}
        for table in tables.values():
            quote_table(table)
        self._select = features_select(self.features.text(base), tables)  # refuses an undeclared `$name`
        if not 0.0 < self.split.test_fraction < 1.0:
            raise ValueError(f"split.test_fraction must be between 0 and 1, got {self.split.test_fraction}")

    def _automation_condition(self) -> dg.AutomationCondition | None:
        kind = self.retraining.automation_condition
        if kind == "eager":
            return upstream_changed()
        if kind == "on_cron":
            return dg.AutomationCondition.on_cron(self.retraining.automation_cron, self.retraining.timezone)
        return None

    # --- definitions ---------------------------------------------------------------------------------------
    def feature_select(self) -> str:
        """The feature table's SELECT with its source tables filled in (read when the location loaded)."""
        assert self._select is not None, "validate() reads the features SQL"
        return self._select

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        self.validate(context.path)
        features_table = self._table(self.features_table)
        predictions_table = self._table(self.predictions_table)
        features_key = self._key(self.features_table)
        model_key = self._key(self.model_name)
        predictions_key = self._key(self.predictions_table)
        component = self

        @dg.asset(
            key=features_key,
            deps=[dg.AssetKey.from_user_string(s.asset_key) for s in self.sources.values()],
            group_name=self.group_name,
            description=f"Features and label ({self.roles.label}) of {self.model_name}, one row per "
            f"{self.roles.key}, in {features_table}: the declared SELECT ({self.features.sql if self.features.sql.endswith('.sql') else 'inline'}).",
            required_resource_keys={"warehouse"},
            pool=WAREHOUSE_POOL,
            kinds={"sql"},
            # the source tables' data changed: rebuild (a no-change load keeps their data versions)
            automation_condition=upstream_changed(),
        )
        def _features(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            from dataplat_ml_training.features import build_feature_table

            warehouse = context.resources.warehouse
            build_feature_table(warehouse, features_table, component.feature_select())
            return dg.MaterializeResult(
                metadata={**table_metadata(warehouse, features_table), "table": features_table}
            )

        @dg.asset(
            key=model_key,
            deps=[features_key],
            group_name=self.group_name,
            description=f"Classifier of {self.roles.label} trained on matured rows of {features_table}, evaluated "
            "on the newest ones.",
            required_resource_keys={"warehouse", "artifacts"},
            pool=WAREHOUSE_POOL,
            kinds={"scikitlearn"},
            automation_condition=self._automation_condition(),
        )
        def _train(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return component.train(context.resources.warehouse, context.resources.artifacts, context.log)

        @dg.asset(
            key=predictions_key,
            deps=[features_key, model_key],
            group_name=self.group_name,
            description=f"Probability of {self.roles.label} for recent rows whose label is not 1 yet, in "
            f"{predictions_table}.{self.predictions_column}.",
            required_resource_keys={"warehouse", "artifacts"},
            pool=WAREHOUSE_POOL,
            kinds={"sql"},
            # a new model or new features: score again
            automation_condition=upstream_changed(),
        )
        def _score(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return component.score(context.resources.warehouse, context.resources.artifacts, context.log)

        checks = [
            *checks_step(
                f"{features_key.to_python_identifier()}_checks",
                table_checks(features_key, features_table, primary_key=[self.roles.key]),
            ),
            *model_checks(
                model_key,
                self.model_name,
                self.store_for,
                self.checks.min_roc_auc,
                self.checks.max_auc_drop,
            ),
            # no min-rows check: an empty scoring window (no recent open rows) is not an error
            *checks_step(
                f"{predictions_key.to_python_identifier()}_checks",
                [
                    primary_key_check(predictions_key, predictions_table, [self.roles.key]),
                    not_null_check(
                        predictions_key, predictions_table, [self.roles.key, self.predictions_column]
                    ),
                ],
            ),
            schema_check(predictions_key, features_table, self.model_name, self.store_for),
        ]
        job = dg.define_asset_job(
            f"{self.model_name}_retraining",
            selection=dg.AssetSelection.assets(features_key, model_key, predictions_key),
            description="Rebuild the features, retrain, check and score.",
        )
        schedule = dg.ScheduleDefinition(
            name=f"{self.model_name}_weekly",
            job=job,
            cron_schedule=self.retraining.schedule_cron,
            execution_timezone=self.retraining.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING
            if self.retraining.schedule_running
            else dg.DefaultScheduleStatus.STOPPED,
        )
        return dg.Definitions(
            assets=[_features, _train, _score], asset_checks=checks, jobs=[job], schedules=[schedule]
        )

    # --- the work (plain methods: the benchmark calls them without Dagster) --------------------------------
    def _read_features(self, warehouse: Any):
        """The feature table as a compact frame: categories, float32 numerics (`Warehouse.read_frame`).

        Sorted by key, so the same table always yields the same frame and the same model bytes.
        """
        return warehouse.read_frame(
            self._table(self.features_table),
            list(self.roles.columns),
            order_by=self.roles.key,
            categorical=self.roles.categorical,
            float32=self.roles.numeric,
        )

    def train(self, warehouse: Warehouse, artifacts: ArtifactStore, log: Any = None) -> dg.MaterializeResult:
        from dataplat_ml_training import __version__
        from dataplat_ml_training.features import schema_differences, table_schema
        from dataplat_ml_training.model import evaluate, labeled, train

        features_table = self._table(self.features_table)
        params = self.model.params()
        store = self.store_for(artifacts)
        schema = table_schema(warehouse, features_table, self.roles.features)
        # The full frame is only referenced here: once the labeled rows are taken, it is freed.
        data = labeled(self._read_features(warehouse), self.roles, self.split.label_maturity_days)
        trained = train(data, self.roles, params, self.split.test_fraction, self.split.cutoff)
        metrics = trained.metrics

        # The model in service is scored on the new test set, so the regression gate compares like with like.
        baseline = None
        previous = store.latest(self.model_name, promoted_only=True)
        if previous is not None:
            if not schema_differences(previous.metadata.get("feature_schema", {}), schema):
                old = store.load(self.model_name, previous.version)
                auc, evaluated_on = (
                    evaluate(old, trained.test, self.roles, params.threshold)["roc_auc"],
                    "current test set",
                )
            else:  # other features: only its own recorded test AUC is comparable at all
                auc, evaluated_on = previous.metadata["metrics"]["roc_auc"], "its own test set"
            baseline = {"version": previous.version, "roc_auc": float(auc), "evaluated_on": evaluated_on}

        floor = auc_floor_gate(metrics, self.checks.min_roc_auc)
        regression = regression_gate(metrics, baseline, self.checks.max_auc_drop)
        promoted = floor.passed and regression.passed
        saved = store.save(
            self.model_name,
            trained.pipeline,
            __version__,
            metadata={
                "metrics": metrics,
                "baseline": baseline,
                "promoted": promoted,
                "feature_schema": schema,
                "features_table": features_table,
                "split": {
                    "cutoff": trained.cutoff.isoformat(),
                    "test_fraction": self.split.test_fraction,
                    "label_maturity_days": self.split.label_maturity_days,
                },
                "params": params.as_dict(),
            },
        )
        if log is not None and not promoted:
            log.warning(f"model {saved.version} not promoted: scoring keeps the previous model")
        return dg.MaterializeResult(
            metadata={
                "model_version": saved.version,
                "content_hash": saved.content_hash,
                "model_store": store.url,
                "promoted": promoted,
                "roc_auc": dg.FloatMetadataValue(round(float(metrics["roc_auc"]), 4)),
                "average_precision": dg.FloatMetadataValue(round(float(metrics["average_precision"]), 4)),
                "precision": dg.FloatMetadataValue(round(float(metrics["precision"]), 4)),
                "recall": dg.FloatMetadataValue(round(float(metrics["recall"]), 4)),
                "threshold": dg.FloatMetadataValue(float(metrics["threshold"])),
                "train_rows": dg.IntMetadataValue(int(metrics["train_rows"])),
                "test_rows": dg.IntMetadataValue(int(metrics["test_rows"])),
                "train_positive_rate": dg.FloatMetadataValue(round(float(metrics["train_positive_rate"]), 4)),
                "test_positive_rate": dg.FloatMetadataValue(round(float(metrics["test_positive_rate"]), 4)),
                "training_seconds": dg.FloatMetadataValue(float(metrics["training_seconds"])),
                "split_cutoff": trained.cutoff.isoformat(),
                "previous_version": baseline["version"] if baseline else "none",
            },
            # Same data and config -> same bytes -> same version: downstream sees nothing new.
            data_version=dg.DataVersion(saved.version),
        )

    def score(self, warehouse: Warehouse, artifacts: ArtifactStore, log: Any = None) -> dg.MaterializeResult:
        import pandas as pd

        from dataplat_ml_training.features import schema_differences, table_schema
        from dataplat_ml_training.model import predict

        features_table = self._table(self.features_table)
        store = self.store_for(artifacts)
        in_service = store.latest(self.model_name, promoted_only=True)
        if in_service is None:
            raise dg.Failure(f"no promoted {self.model_name} model in {store.url}: train one first")
        expected = in_service.metadata["feature_schema"]
        problems = schema_differences(expected, table_schema(warehouse, features_table, list(expected)))
        if problems:
            # Scoring with shifted columns would write confident nonsense: refuse instead.
            raise dg.Failure(
                f"{features_table} does not match model {in_service.version}: " + "; ".join(problems)
            )
        due = self.scoring_rows(self._read_features(warehouse))
        pipeline = store.load(self.model_name, in_service.version)
        probabilities = predict(pipeline, due, self.roles) if len(due) else []
        predictions = pd.DataFrame(
            {
                self.roles.key: due[self.roles.key].to_numpy(),
                self.predictions_column: pd.Series(probabilities, dtype="float64").to_numpy(),
                "model_version": in_service.version,
                "scored_at": pd.Timestamp(datetime.now(UTC)),
            }
        )
        warehouse.write_frame(self._table(self.predictions_table), predictions)
        return dg.MaterializeResult(
            metadata={
                **table_metadata(warehouse, self._table(self.predictions_table)),
                "model_version": in_service.version,
                f"mean_{self.predictions_column}": dg.FloatMetadataValue(
                    round(float(predictions[self.predictions_column].mean()), 4) if len(predictions) else 0.0
                ),
            }
        )

    def scoring_rows(self, frame):
        """Rows of the last `scoring_window_days` (relative to the newest row) whose label is not 1 yet."""
        import pandas as pd

        if frame.empty:
            return frame
        time, label = self.roles.time, self.roles.label
        since = frame[time].max() - pd.Timedelta(days=self.scoring_window_days)
        return frame[(frame[time] > since) & (frame[label] == 0)]
