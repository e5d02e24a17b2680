"""`PaymentsApiIngestionComponent`: the payments API loaded by dlt, declared in YAML, run by dagster-dlt.

Definition time (no I/O, no secrets, no dlt): one multi-asset, one asset per API resource, keyed
`<dataset>/<table>`, in the `warehouse` pool, daily partitions when `partition_start` is set, plus checks. The
asset specs come from the YAML alone, so a code location loads without importing dlt and pyarrow (about a
second of a code server's start-up, see docs/benchmarks.md).

Run time (`load.py`): the `payments_api` resource gives URL and token, the `warehouse` resource the destination;
the run's partition gives the incremental window; a fresh folder under the platform's working root (`workdir.py`:
the Dagster instance's storage) holds dlt's working state for this step attempt only, and
`DagsterDltResource.run` loads the freshly built source through a freshly built pipeline.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from dataplat_core.checks import checks_step, column_schema_change_checks
from dataplat_core.environment import PlatformEnv, current_environment
from dataplat_core.observability import StepRetry, with_retry_policy
from dataplat_core.resources import PaymentsApi
from dataplat_core.warehouse import InvalidIdentifier, quote_identifier

from dataplat_api_sources.checks import partition_row_count_check, resource_checks
from dataplat_api_sources.http import RetryingSession, RetryPolicy
from dataplat_api_sources.partitions import to_utc
from dataplat_api_sources.source import ResourceSpec, SchemaContractMode, WriteDisposition, payments_source

if TYPE_CHECKING:
    from dlt.extract.source import DltSource

WAREHOUSE_POOL = "warehouse"


class ApiResourceModel(dg.Resolvable, dg.Model):
    """One API resource (endpoint) to load."""

    name: str
    write_disposition: WriteDisposition = "append"
    primary_key: list[str] = []
    table_name: str | None = None
    incremental: bool = True


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
class PaymentsApiIngestionComponent(dg.Component, dg.Resolvable):
    """The payments provider's REST API into the warehouse, through dlt's `rest_api` source and dagster-dlt."""

    resources: Sequence[ApiResourceModel]
    dataset: str = "payments_api"
    pipeline_name: str = "payments_api"
    group_name: str = "payments_api"
    partition_start: str | None = None
    initial_value: str | None = None
    schema_contract: SchemaContractMode | None = None
    retry: RetryModel = field(default_factory=RetryModel)
    page_size: int = 5000
    freshness_max_age_hours: float | None = 24.0
    min_rows_per_partition: int = 1
    loader_file_format: Literal["parquet", "jsonl"] = "parquet"
    # Dagster re-runs the step after a transient failure (HTTP 5xx/429 or the network once `retry`'s own
    # attempts ran out, a lock); a refused request (401, 404) or a schema contract violation fails at once.
    step_retry: StepRetry = field(default_factory=StepRetry)

    def __post_init__(self) -> None:
        # Validate at load time (`dg check defs`), not when the first run fails.
        self._specs = {
            r.name: ResourceSpec(
                name=r.name,
                write_disposition=r.write_disposition,
                primary_key=tuple(r.primary_key),
                table_name=r.table_name,
                incremental=r.incremental,
            )
            for r in self.resources
        }
        if not self._specs:
            raise ValueError("declare at least one resource")
        if len(self._specs) != len(self.resources):
            raise ValueError("each resource may be declared once")
        if not 1 <= self.page_size <= 10_000:
            raise ValueError("page_size must be between 1 and 10000 (the API's maximum)")
        self._policy = self.retry.policy()
        self.start_value  # noqa: B018 - an unparsable initial_value / partition_start fails here, at load
        # Names that become SQL identifiers (schema, tables) and dlt's schema name: refused here, naming the key.
        names = {"dataset": self.dataset, "pipeline_name": self.pipeline_name}
        names.update({f"resources[{spec.name}].table": spec.table for spec in self._specs.values()})
        for label, value in names.items():
            try:
                quote_identifier(value)
            except InvalidIdentifier as exc:
                raise ValueError(f"{label}: {exc}") from None

    # --- configuration, resolved -----------------------------------------------------------------------

    def resource_spec(self, name: str) -> ResourceSpec:
        return self._specs[name]

    @property
    def partitions_def(self) -> dg.TimeWindowPartitionsDefinition | None:
        if not self.partition_start:
            return None
        return dg.DailyPartitionsDefinition(start_date=self.partition_start, timezone="UTC")

    @property
    def start_value(self):
        return to_utc(self.initial_value or self.partition_start or "1970-01-01")

    def effective_schema_contract(self) -> SchemaContractMode:
        """Explicit setting, else `freeze` in prod (a new API field stops the load) and `evolve` elsewhere."""
        if self.schema_contract:
            return self.schema_contract
        return "freeze" if current_environment() == PlatformEnv.PROD else "evolve"

    def build_source(
        self, base_url: str, token: str, window=None, session: RetryingSession | None = None
    ) -> "DltSource":
        return payments_source(
            base_url=base_url,
            token=token,
            resources=list(self._specs.values()),
            window=window,
            initial_value=self.start_value,
            schema_contract=self.effective_schema_contract(),
            session=session,
            page_size=self.page_size,
            name=self.pipeline_name,
        )

    # --- Dagster ------------------------------------------------------------------------------------------

    def asset_spec(self, spec: ResourceSpec) -> dg.AssetSpec:
        """The asset of one API resource: its warehouse table `<dataset>/<table>` (also what the run-time dlt
        translator maps each dlt resource to, so definitions and runs agree without dlt at load time)."""
        pk = f" on ({', '.join(spec.primary_key)})" if spec.primary_key else ""
        return dg.AssetSpec(
            key=dg.AssetKey([self.dataset, spec.table]),
            group_name=self.group_name,
            description=f"Payments API /{spec.endpoint.path} loaded by dlt ({spec.write_disposition}{pk}).",
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
            pool=WAREHOUSE_POOL,  # DuckDB: one writer per file
        )
        def _load(
            context: dg.AssetExecutionContext, payments_api: PaymentsApi, warehouse: dg.ResourceParam[Any]
        ):
            from dataplat_api_sources.load import run_load  # dlt is imported by runs only

            yield from run_load(component, context, payments_api, warehouse)

        table_checks, partition_checks = [], []
        for spec in self._specs.values():
            key, table = dg.AssetKey([self.dataset, spec.table]), f"{self.dataset}.{spec.table}"
            cursor = spec.endpoint.cursor if spec.is_incremental else None
            table_checks += resource_checks(
                key,
                table,
                primary_key=spec.primary_key,
                cursor=spec.endpoint.cursor,  # the records' time, also for a resource loaded whole
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
