"""`PaymentsApiIngestionComponent`: the payments API loaded by dlt, declared in YAML, run by dagster-dlt.

Definition time (no I/O, no secrets): one `@dlt_assets` multi-asset, one asset per API resource, keyed
`<dataset>/<table>`, in the `warehouse` pool, daily partitions when `partition_start` is set, plus checks.

Run time: the `payments_api` resource gives URL and token, the `warehouse` resource the destination; the run's
partition gives the incremental window; a fresh temp dir holds dlt's working state for this run only, and
`DagsterDltResource.run` loads the freshly built source through a freshly built pipeline.
"""

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dataplat_core.environment import PlatformEnv, current_environment
from dataplat_core.observability import (
    ROWS_LOADED,
    ROWS_READ,
    StepRetry,
    is_transient,
    load_logger,
    load_metadata,
    with_retry_policy,
)
from dataplat_core.resources import PaymentsApi
from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table
from dlt.pipeline.exceptions import PipelineStepFailed

from dataplat_api_sources.arrow import SchemaContractViolation
from dataplat_api_sources.checks import resource_checks
from dataplat_api_sources.destination import make_pipeline, warehouse_destination
from dataplat_api_sources.http import ApiRequestError, RetryingSession, RetryPolicy
from dataplat_api_sources.partitions import partition_window, to_utc
from dataplat_api_sources.source import ResourceSpec, SchemaContractMode, WriteDisposition, payments_source

WAREHOUSE_POOL = "warehouse"
# Building the source for asset specs needs a URL but never calls it; the real one comes from the resource.
_SPEC_BASE_URL = "http://payments-api.invalid"


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

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


class _Translator(DagsterDltTranslator):
    """Asset key `<dataset>/<table>` (the warehouse table), independent of the per-run pipeline name."""

    def __init__(self, component: "PaymentsApiIngestionComponent"):
        self.component = component

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = self.component.resource_spec(data.resource.name)
        base = super().get_asset_spec(data)
        pk = f" on ({', '.join(spec.primary_key)})" if spec.primary_key else ""
        return base.replace_attributes(
            key=dg.AssetKey([self.component.dataset, spec.table]),
            group_name=self.component.group_name,
            description=f"Payments API /{spec.endpoint.path} loaded by dlt ({spec.write_disposition}{pk}).",
            kinds={"dlt", "api"},
            deps=[],
        )


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
    ) -> dlt.sources.DltSource:
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

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        translator = _Translator(self)
        spec_dir = Path(tempfile.gettempdir()) / "dataplat-dlt-specs"  # dlt.pipeline() wants a folder
        spec_pipeline = dlt.pipeline(
            pipeline_name=self.pipeline_name, pipelines_dir=str(spec_dir), dataset_name=self.dataset
        )
        component = self

        @dlt_assets(
            dlt_source=self.build_source(_SPEC_BASE_URL, "unused"),
            dlt_pipeline=spec_pipeline,
            name=f"dlt_{self.pipeline_name}",
            dagster_dlt_translator=translator,
            partitions_def=self.partitions_def,
            pool=WAREHOUSE_POOL,  # DuckDB: one writer per file
        )
        def _load(
            context: dg.AssetExecutionContext, payments_api: PaymentsApi, warehouse: dg.ResourceParam[Any]
        ):
            yield from component.execute(context, payments_api, warehouse, translator)

        checks = []
        for spec in self._specs.values():
            key = dg.AssetKey([self.dataset, spec.table])
            checks += resource_checks(
                key,
                f"{self.dataset}.{spec.table}",
                primary_key=spec.primary_key,
                cursor=spec.endpoint.cursor if spec.is_incremental else None,
                freshness=timedelta(hours=self.freshness_max_age_hours)
                if self.freshness_max_age_hours
                else None,
                partitions_def=self.partitions_def,
                min_rows_per_partition=self.min_rows_per_partition,
            )
        return dg.Definitions(
            assets=[with_retry_policy(_load, self.step_retry.policy())], asset_checks=checks
        )

    def execute(
        self,
        context: dg.AssetExecutionContext,
        payments_api: PaymentsApi,
        warehouse: Any,
        translator: DagsterDltTranslator,
    ) -> Iterator[Any]:
        started = time.perf_counter()
        log = load_logger(context)
        window = partition_window(context)
        session = _CountingSession(self._policy, logger=log)
        source = self.build_source(payments_api.base_url, payments_api.token, window, session)
        with tempfile.TemporaryDirectory(prefix=f"dlt-{context.run.run_id[:8]}-") as workdir:
            pipeline = make_pipeline(
                self.pipeline_name,
                dataset=self.dataset,
                destination=warehouse_destination(warehouse),
                pipelines_dir=Path(workdir),
                window=window,
            )
            log.info(
                f"dlt pipeline {pipeline.pipeline_name} in {workdir}; window "
                + (
                    f"[{window.start.isoformat()}, {window.end.isoformat()})"
                    if window
                    else "from stored cursor"
                )
            )
            try:
                events = list(
                    DagsterDltResource().run(
                        context=context,
                        dlt_source=source,
                        dlt_pipeline=pipeline,
                        dagster_dlt_translator=translator,
                        loader_file_format=self.loader_file_format,
                    )
                )
            except PipelineStepFailed as exc:
                raise _failure(exc) from exc
            normalized = dict(pipeline.last_trace.last_normalize_info.row_counts)
        duration = time.perf_counter() - started
        extra = {
            "http_requests": session.attempts,
            "http_retries": session.retries,
            "http_failures": dg.MetadataValue.json(session.failures),
            "dlt_pipeline": pipeline.pipeline_name,
            "window": f"{window.start.isoformat()} .. {window.end.isoformat()}" if window else "incremental",
        }
        for event in events:
            if isinstance(event, dg.MaterializeResult):
                uniform = self._load_metadata(
                    event.asset_key, session, normalized, warehouse, window, duration
                )
                log.info(
                    f"{event.asset_key.to_user_string()}: {uniform[ROWS_READ].value} rows read, "
                    f"{uniform[ROWS_LOADED].value} loaded in {duration:.2f}s"
                )
                yield dg.MaterializeResult(
                    asset_key=event.asset_key, metadata={**(event.metadata or {}), **extra, **uniform}
                )
            else:
                yield event

    def _load_metadata(self, key, session, normalized, warehouse, window, duration) -> dict[str, Any]:
        """Rows the API served for the resource (counted in the session), rows dlt normalized and loaded
        into its table (a row dlt's incremental cursor had already loaded is read, not loaded), and the
        newest cursor value (updated_at / created_at) of the loaded table within the run's window."""
        spec = next(s for s in self._specs.values() if s.table == key.path[-1])
        rows_read = session.rows_by_path.get(f"/{spec.endpoint.path.strip('/')}", 0)
        rows_loaded = int(normalized.get(spec.table, 0))
        cursor = quote_identifier(spec.endpoint.cursor)
        where = ""
        if window is not None and spec.is_incremental:
            where = (
                f" where {cursor} >= '{window.start.isoformat()}' and {cursor} < '{window.end.isoformat()}'"
            )
        (newest,) = fetch_one(
            warehouse, f"select max({cursor}) from {quote_table(f'{self.dataset}.{spec.table}')}{where}"
        ) or (None,)
        return load_metadata(
            rows_read=rows_read,
            rows_loaded=rows_loaded,
            rows_rejected=0,  # dlt rejects no rows: a row that breaks the schema contract fails the load
            source_newest_at=newest,
            duration_s=duration,
        )


class _CountingSession(RetryingSession):
    """Counts the records of every successful page by path (`rows_by_path`): the rows read from the API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_by_path: dict[str, int] = {}

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        if response.ok and not kwargs.get("stream", False):
            data = response.json().get("data")
            if isinstance(data, list):
                path = urlsplit(response.url).path.rstrip("/")
                self.rows_by_path[path] = self.rows_by_path.get(path, 0) + len(data)
        return response


def _failure(exc: PipelineStepFailed) -> dg.Failure:
    """The root cause (an API error, a schema contract violation) as the run's failure message."""
    cause: BaseException | None = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
        if (
            isinstance(cause, ApiRequestError | SchemaContractViolation)
            or type(cause).__name__ == "DataValidationError"
        ):
            break
    detail = str(cause).strip() if cause is not None else str(exc)
    # Only a transient cause (5xx/429/network after the HTTP retries, a lock) is worth a step retry.
    return dg.Failure(description=f"dlt step {exc.step!r} failed: {detail}", allow_retries=is_transient(exc))
