"""`RestApiIngestionComponent`: any REST API declared in YAML (`declaration.py`), loaded by dlt, run by dagster-dlt.

Definition time (no I/O, no secrets, no dlt): one multi-asset, one asset per API resource, keyed
`<dataset>/<table>`, in the `warehouse` pool, daily partitions when `partition_start` is set, plus checks. The
asset specs come from the YAML alone, so a code location loads without importing dlt and pyarrow (about a
second of a code server's start-up, see docs/benchmarks.md).

Run time (`load.py`): the resource the client names (`client.resource`, e.g. a `RestApiConnection`) gives the
base URL and the secret, the `warehouse` resource the destination;
the run's partition gives the incremental window; a fresh folder under the platform's working root (`workdir.py`:
the Dagster instance's storage) holds dlt's working state for this step attempt only, and
`DagsterDltResource.run` loads the freshly built source through a freshly built pipeline.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import dagster as dg
from dataplat_core.checks import checks_step, column_schema_change_checks
from dataplat_core.observability import StepRetry, with_retry_policy
from dataplat_core.warehouse import WAREHOUSE_POOL, InvalidIdentifier, quote_identifier

from dataplat_api_sources.checks import partition_row_count_check, resource_checks
from dataplat_api_sources.declaration import ApiResource, Client, SchemaContractMode
from dataplat_api_sources.http import RetryPolicy
from dataplat_api_sources.partitions import to_utc
from dataplat_api_sources.source import LoadPlan


class RetryModel(dg.Resolvable, dg.Model):
    """HTTP retry and timeout settings (see `dataplat_api_sources.http.RetryPolicy`)."""

    max_attempts: int = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    refused_attempts: int = 3

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


@dataclass
class RestApiIngestionComponent(dg.Component, dg.Resolvable):
    """A REST API into the warehouse, declared in YAML, through dlt's `rest_api` source and dagster-dlt."""

    client: Client
    resources: Sequence[ApiResource]
    dataset: str
    pipeline_name: str | None = None  # default: the dataset
    group_name: str | None = None  # default: the dataset
    partition_start: str | None = None
    initial_value: str | None = None
    # dlt's own default. An environment that must stop on a new API field sets `freeze` (a composition value).
    schema_contract: SchemaContractMode = "evolve"
    retry: RetryModel = field(default_factory=RetryModel)
    freshness_max_age_hours: float | None = 24.0
    min_rows_per_partition: int = 1
    loader_file_format: Literal["parquet", "jsonl"] = "parquet"
    # Dagster re-runs the step after a transient failure (HTTP 5xx/429 or the network once `retry`'s own
    # attempts ran out, a lock); a refused request (401, 404) or a schema contract violation fails at once.
    step_retry: StepRetry = field(default_factory=StepRetry)

    def __post_init__(self) -> None:
        # Validate at load time (`dg check defs`), not when the first run fails.
        self.pipeline_name = self.pipeline_name or self.dataset
        self.group_name = self.group_name or self.dataset
        self._specs = {r.name: r for r in self.resources}
        if not self._specs:
            raise ValueError("declare at least one resource")
        if len(self._specs) != len(self.resources):
            raise ValueError("each resource may be declared once")
        tables = [r.table for r in self.resources]
        if len(set(tables)) != len(tables):
            raise ValueError(
                f"two resources load the same table: {sorted({t for t in tables if tables.count(t) > 1})}"
            )
        self._policy = self.retry.policy()
        self.start_value  # noqa: B018 - an unparsable initial_value / partition_start fails here, at load
        # Names that become SQL identifiers (schema, tables, columns) and dlt's schema name: refused here.
        names = {"dataset": self.dataset, "pipeline_name": self.pipeline_name}
        for spec in self._specs.values():
            names[f"resources[{spec.name}].table"] = spec.table
            names.update({f"resources[{spec.name}].columns.{c}": c for c in spec.columns})
        for label, value in names.items():
            try:
                quote_identifier(value)
            except InvalidIdentifier as exc:
                raise ValueError(f"{label}: {exc}") from None

    # --- configuration, resolved -----------------------------------------------------------------------

    def resource_spec(self, name: str) -> ApiResource:
        return self._specs[name]

    @property
    def partitions_def(self) -> dg.TimeWindowPartitionsDefinition | None:
        if not self.partition_start:
            return None
        return dg.DailyPartitionsDefinition(start_date=self.partition_start, timezone="UTC")

    @property
    def start_value(self):
        return to_utc(self.initial_value or self.partition_start or "1970-01-01")

    def load_plan(self) -> LoadPlan:
        """What a run loads, resolved when the run starts."""
        return LoadPlan(
            dataset=self.dataset,
            pipeline_name=self.pipeline_name,
            client=self.client,
            resources=tuple(self._specs.values()),
            asset_specs={name: self.asset_spec(spec) for name, spec in self._specs.items()},
            initial_value=self.start_value,
            schema_contract=self.schema_contract,
            policy=self._policy,
            loader_file_format=self.loader_file_format,
        )

    # --- Dagster ------------------------------------------------------------------------------------------

    def asset_spec(self, spec: ApiResource) -> dg.AssetSpec:
        """The asset of one API resource: its warehouse table `<dataset>/<table>` (also what the run-time dlt
        translator maps each dlt resource to, so definitions and runs agree without dlt at load time)."""
        pk = f" on ({', '.join(spec.primary_key)})" if spec.primary_key else ""
        return dg.AssetSpec(
            key=dg.AssetKey([self.dataset, spec.table]),
            group_name=self.group_name,
            description=f"/{spec.endpoint.path.strip('/')} of the API at resource `{self.client.resource}`, "
            f"loaded by dlt ({spec.write_disposition}{pk}).",
            kinds={"dlt", "api"},
            partitions_def=self.partitions_def,
            metadata={"dagster/table_name": f"{self.dataset}.{spec.table}"},
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        component = self

        @dg.multi_asset(
            name=f"dlt_{self.pipeline_name}",
            specs=[self.asset_spec(spec) for spec in self._specs.values()],
            partitions_def=self.partitions_def,
            can_subset=True,
            pool=WAREHOUSE_POOL,
            required_resource_keys={self.client.resource, "warehouse"},
        )
        def _load(context: dg.AssetExecutionContext):
            from dataplat_api_sources.load import run_load  # dlt is imported by runs only

            connection = getattr(context.resources, component.client.resource)
            yield from run_load(component.load_plan(), context, connection, context.resources.warehouse)

        table_checks, partition_checks = [], []
        for spec in self._specs.values():
            key, table = dg.AssetKey([self.dataset, spec.table]), f"{self.dataset}.{spec.table}"
            cursor = spec.cursor if spec.is_incremental else None
            table_checks += resource_checks(
                key,
                table,
                primary_key=spec.primary_key,
                cursor=spec.cursor,  # the records' time, also for a resource loaded whole
                freshness=timedelta(hours=self.freshness_max_age_hours)
                if self.freshness_max_age_hours
                else None,
            )
            if cursor and self.partitions_def is not None:
                partition_checks.append(
                    partition_row_count_check(
                        key, table, cursor, self.partitions_def, self.min_rows_per_partition
                    )
                )
        return dg.Definitions(
            assets=[with_retry_policy(_load, self.step_retry.policy())],
            asset_checks=[
                *checks_step(f"{self.dataset}_checks", table_checks),
                *partition_checks,
                *column_schema_change_checks(
                    [dg.AssetKey([self.dataset, s.table]) for s in self._specs.values()]
                ),
            ],
        )
