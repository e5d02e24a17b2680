"""Run time of `PaymentsApiIngestionComponent`: build the dlt source and pipeline for the run's window, load,
and report the uniform load metadata. Imported by runs only (dlt and pyarrow are slow to import)."""

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData
from dataplat_core.observability import (
    ROWS_LOADED,
    ROWS_READ,
    error_chain,
    is_transient,
    load_logger,
    load_metadata,
)
from dataplat_core.resources import PaymentsApi
from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table
from dlt.pipeline.exceptions import PipelineStepFailed

from dataplat_api_sources.arrow import SchemaContractViolation
from dataplat_api_sources.destination import make_pipeline, warehouse_destination
from dataplat_api_sources.http import ApiRequestError, RetryingSession
from dataplat_api_sources.partitions import partition_window
from dataplat_api_sources.workdir import folder_name, owned_folder, remove_stale, working_root

if TYPE_CHECKING:
    from dataplat_api_sources.component import PaymentsApiIngestionComponent


class _DatasetTranslator(DagsterDltTranslator):
    """Each dlt resource to the component's asset for it (`<dataset>/<table>`), whatever the run's pipeline."""

    def __init__(self, component: "PaymentsApiIngestionComponent"):
        self.component = component

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        return self.component.asset_spec(self.component.resource_spec(data.resource.name))


def run_load(
    component: "PaymentsApiIngestionComponent",
    context: dg.AssetExecutionContext,
    payments_api: PaymentsApi,
    warehouse: Any,
) -> Iterator[Any]:
    """One run of the component's multi-asset: the API resources of the run's window into the warehouse."""
    started = time.perf_counter()
    log = load_logger(context)
    window = partition_window(context)
    session = _CountingSession(component._policy, logger=log)
    source = component.build_source(payments_api.base_url, payments_api.token, window, session)
    step_key = context.get_step_execution_context().step.key
    root = working_root(context.instance, warehouse)
    stale = remove_stale(root)
    if stale:
        log.info(
            f"removed {len(stale)} dlt working folder(s) of earlier runs that ended without cleaning up "
            f"(killed): {', '.join(p.name for p in stale)}"
        )
    with owned_folder(root, folder_name(context.run_id, step_key, context.retry_number)) as workdir:
        pipeline = make_pipeline(
            component.pipeline_name,
            dataset=component.dataset,
            destination=warehouse_destination(warehouse),
            pipelines_dir=workdir,
            window=window,
        )
        log.info(
            f"dlt pipeline {pipeline.pipeline_name} in {workdir}; window "
            + (f"[{window.start.isoformat()}, {window.end.isoformat()})" if window else "from stored cursor")
        )
        try:
            events = list(
                DagsterDltResource().run(
                    context=context,
                    dlt_source=source,
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=_DatasetTranslator(component),
                    loader_file_format=component.loader_file_format,
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
            uniform = _load_metadata(
                component, event.asset_key, session, normalized, warehouse, window, duration
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


def _load_metadata(
    component: "PaymentsApiIngestionComponent", key, session, normalized, warehouse, window, duration
) -> dict[str, Any]:
    """Rows the API served for the resource (counted in the session), rows dlt normalized and loaded
    into its table (a row dlt's incremental cursor had already loaded is read, not loaded), and the
    newest cursor value (updated_at / created_at) of the loaded table within the run's window."""
    spec = next(s for s in component._specs.values() if s.table == key.path[-1])
    rows_read = session.rows_by_path.get(f"/{spec.endpoint.path.strip('/')}", 0)
    rows_loaded = int(normalized.get(spec.table, 0))
    cursor = quote_identifier(spec.endpoint.cursor)
    where = ""
    if window is not None and spec.is_incremental:
        where = f" where {cursor} >= '{window.start.isoformat()}' and {cursor} < '{window.end.isoformat()}'"
    (newest,) = fetch_one(
        warehouse, f"select max({cursor}) from {quote_table(f'{component.dataset}.{spec.table}')}{where}"
    ) or (None,)
    return load_metadata(
        rows_read=rows_read,
        rows_loaded=rows_loaded,
        rows_rejected=0,  # dlt rejects no rows: a row that breaks the schema contract fails the load
        source_newest_at=newest,
        duration_s=duration,
    )


class _CountingSession(RetryingSession):
    """Counts the records of every successful page by path (`rows_by_path`): the rows read from the API.

    It also holds the API to its envelope, `{"data": [...], "next_cursor": ...}`: dlt's data selector finds no
    rows in any other shape, so a changed envelope would load nothing and succeed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_by_path: dict[str, int] = {}

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        if response.ok and not kwargs.get("stream", False):
            body = response.json()
            path = urlsplit(response.url).path.rstrip("/")
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                shape = sorted(body) if isinstance(body, dict) else type(body).__name__
                raise ApiRequestError(
                    path,
                    response.status_code,
                    f"GET {path}: the page is not the API's envelope (a 'data' list): got {shape}",
                )
            self.rows_by_path[path] = self.rows_by_path.get(path, 0) + len(data)
        return response


def _failure(exc: PipelineStepFailed) -> dg.Failure:
    """The root cause (an API error, a schema contract violation) as the run's failure message."""
    causes = list(error_chain(exc))[1:]
    named = (
        c
        for c in causes
        if isinstance(c, ApiRequestError | SchemaContractViolation)
        or type(c).__name__ == "DataValidationError"
    )
    cause = next(named, causes[-1] if causes else exc)  # else the root cause
    detail = str(cause).strip()
    # Only a transient cause (5xx/429/network after the HTTP retries, a lock) is worth a step retry.
    return dg.Failure(description=f"dlt step {exc.step!r} failed: {detail}", allow_retries=is_transient(exc))
