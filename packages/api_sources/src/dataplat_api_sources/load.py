"""Run time of `RestApiIngestionComponent`: build the dlt source and pipeline for the run's window, load,
and report the uniform load metadata. Imported by runs only (dlt and pyarrow are slow to import)."""

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData
from dataplat_core.observability import (
    ROW_COUNT,
    ROWS_LOADED,
    ROWS_READ,
    error_chain,
    is_transient,
    load_logger,
    load_metadata,
    table_metadata,
)
from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table, table_exists, table_version
from dlt.common import jsonpath
from dlt.pipeline.exceptions import PipelineStepFailed

from dataplat_api_sources.arrow import SchemaContractViolation
from dataplat_api_sources.destination import make_pipeline, warehouse_destination
from dataplat_api_sources.http import ApiRequestError, HttpCounts, RetryingSession
from dataplat_api_sources.partitions import partition_window
from dataplat_api_sources.source import LoadPlan
from dataplat_api_sources.workdir import folder_name, owned_folder, remove_stale, working_root


class _DatasetTranslator(DagsterDltTranslator):
    """Each dlt resource to the component's asset for it (`<dataset>/<table>`), whatever the run's pipeline."""

    def __init__(self, plan: LoadPlan):
        self.plan = plan

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        return self.plan.asset_specs[data.resource.name]


def run_load(
    plan: LoadPlan,
    context: dg.AssetExecutionContext,
    connection: Any,
    warehouse: Any,
) -> Iterator[Any]:
    """One run of the component's multi-asset: the API resources of the run's window into the warehouse."""
    log = load_logger(context)
    step_key = context.get_step_execution_context().step.key
    session = _CountingSession(_selectors(plan, connection.base_url), plan.policy, logger=log)
    try:
        results = _load(plan, context, connection, warehouse, session, step_key)
    except Exception:
        try:
            _record_failed_attempt(context, step_key, _http_by_asset(plan, connection.base_url, session))
        except Exception as exc:  # noqa: BLE001 - the load's own error is the one to report
            log.warning(f"could not record this attempt's HTTP counts: {type(exc).__name__}: {exc}")
        raise
    yield from results


def _load(
    plan: LoadPlan,
    context: dg.AssetExecutionContext,
    connection: Any,
    warehouse: Any,
    session: "_CountingSession",
    step_key: str,
) -> list[Any]:
    """The load itself; returns the step's events, each materialization with its asset's metadata."""
    started = time.perf_counter()
    log = load_logger(context)
    window = partition_window(context)
    source = plan.build_source(connection, window, session)
    root = working_root(context.instance, warehouse)
    stale = remove_stale(root)
    if stale:
        log.info(
            f"removed {len(stale)} dlt working folder(s) of earlier runs that ended without cleaning up "
            f"(killed): {', '.join(p.name for p in stale)}"
        )
    with owned_folder(root, folder_name(context.run.run_id, step_key, context.retry_number)) as workdir:
        pipeline = make_pipeline(
            plan.pipeline_name,
            dataset=plan.dataset,
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
                    dagster_dlt_translator=_DatasetTranslator(plan),
                    loader_file_format=plan.loader_file_format,
                )
            )
        except PipelineStepFailed as exc:
            raise _failure(exc) from exc
        normalized = dict(pipeline.last_trace.last_normalize_info.row_counts)
    duration = time.perf_counter() - started
    http = _http_by_asset(plan, connection.base_url, session)
    for key, earlier in _earlier_attempts(context, step_key).items():
        http[key] = earlier.add(http.get(key, HttpCounts()))
    extra = {
        "dlt_pipeline": pipeline.pipeline_name,
        "window": f"{window.start.isoformat()} .. {window.end.isoformat()}" if window else "incremental",
        "step_attempts": context.retry_number + 1,
    }
    results = []
    for event in events:
        if isinstance(event, dg.MaterializeResult):
            # dlt creates a table with its first rows: a first load whose window held none leaves no table yet.
            loaded = table_exists(warehouse, plan.table(_spec_of(plan, event.asset_key)))
            uniform = _load_metadata(
                plan,
                event.asset_key,
                session,
                normalized,
                warehouse,
                window,
                duration,
                connection.base_url,
                loaded,
            )
            log.info(
                f"{event.asset_key.to_user_string()}: {uniform[ROWS_READ].value} rows read, "
                f"{uniform[ROWS_LOADED].value} loaded in {duration:.2f}s"
            )
            counts = http.get(event.asset_key.to_user_string(), HttpCounts())
            own = {  # this asset's endpoint only, over every attempt of the step
                "http_requests": counts.requests,
                "http_retries": counts.retries,
                "http_failures": dg.MetadataValue.json(counts.failures),
            }
            results.append(
                dg.MaterializeResult(
                    asset_key=event.asset_key,
                    metadata={**(event.metadata or {}), **own, **extra, **uniform},
                    data_version=_data_version(plan, event.asset_key, warehouse) if loaded else None,
                )
            )
        else:
            results.append(event)
    return results


# --- HTTP counts per asset, over every attempt of the step -------------------------------------------------

# Dagster re-runs a failed step (`step_retry`) in a new attempt - in prod in a new pod (k8s_job_executor) - so
# the counts of earlier attempts cannot live in memory or in the attempt's local files. A failed attempt
# writes them to the run's event log (an engine event of the step, also shown in the run's log in the UI);
# the attempt that succeeds reads them back and adds them, so the metadata is what the API actually served.
ATTEMPT_HTTP_COUNTS = "dataplat/attempt_http_counts"


def _endpoint_path(base_url: str, spec: Any) -> str:
    """The URL path the session sees for a resource: the base URL's own path (`/v1`) plus the endpoint."""
    return f"{urlsplit(base_url).path.rstrip('/')}/{spec.endpoint.path.strip('/')}"


def _http_by_asset(plan: LoadPlan, base_url: str, session: RetryingSession) -> dict[str, HttpCounts]:
    """This attempt's HTTP counts per asset (`<dataset>/<table>`): each resource's endpoint's requests."""
    by_path = session.counts_by_path()
    return {
        dg.AssetKey([plan.dataset, spec.table]).to_user_string(): by_path.get(
            _endpoint_path(base_url, spec), HttpCounts()
        )
        for spec in plan.resources
    }


def _record_failed_attempt(
    context: dg.AssetExecutionContext, step_key: str, http: dict[str, HttpCounts]
) -> None:
    if not any(c.requests for c in http.values()):
        return  # failed before any request: nothing to carry over
    from dagster._core.events import EngineEventData  # not exported by `dagster`; stable in 1.13

    total = sum(c.requests for c in http.values())
    context.instance.report_engine_event(
        f"attempt {context.retry_number + 1} of step {step_key} failed after {total} HTTP request(s); "
        "a retry of the step adds them to its assets' http_* metadata",
        dagster_run=context.run,
        engine_event_data=EngineEventData(
            metadata={ATTEMPT_HTTP_COUNTS: dg.MetadataValue.json({k: c.to_dict() for k, c in http.items()})}
        ),
        step_key=step_key,
    )


def _earlier_attempts(context: dg.AssetExecutionContext, step_key: str) -> dict[str, HttpCounts]:
    """The HTTP counts per asset that the step's earlier (failed) attempts in this run recorded."""
    if context.retry_number == 0:
        return {}
    totals: dict[str, HttpCounts] = {}
    for entry in context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or event.step_key != step_key:
            continue
        value = event.engine_event_data.metadata.get(ATTEMPT_HTTP_COUNTS)
        if value is None:
            continue
        for key, counts in value.value.items():
            totals[key] = totals.get(key, HttpCounts()).add(HttpCounts.from_dict(counts))
    return totals


def _load_metadata(
    plan: LoadPlan,
    key,
    session,
    normalized,
    warehouse,
    window,
    duration,
    base_url,
    loaded: bool,
) -> dict[str, Any]:
    """Rows the API served for the resource (counted in the session), rows dlt normalized and loaded
    into its table (a row dlt's incremental cursor had already loaded is read, not loaded), and the
    newest cursor value of the loaded table within the run's window (none for a resource without a cursor).
    `loaded`: the table exists (else 0 rows and no table facts)."""
    spec = _spec_of(plan, key)
    table = plan.table(spec)
    rows_read = session.rows_by_path.get(_endpoint_path(base_url, spec), 0)
    rows_loaded = int(normalized.get(spec.table, 0))
    uniform = {
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_rejected": 0,  # dlt rejects no rows: a row that breaks the schema contract fails the load
        "duration_s": duration,
    }
    if not loaded:
        return {**load_metadata(source_newest_at=None, **uniform), ROW_COUNT: dg.MetadataValue.int(0)}
    newest = None
    if spec.cursor:
        cursor = quote_identifier(spec.cursor)
        where = ""
        if window is not None and spec.is_incremental:
            where = (
                f" where {cursor} >= '{window.start.isoformat()}' and {cursor} < '{window.end.isoformat()}'"
            )
        (newest,) = fetch_one(warehouse, f"select max({cursor}) from {quote_table(table)}{where}") or (None,)
    return {**load_metadata(source_newest_at=newest, **uniform), **table_metadata(warehouse, table)}


def _spec_of(plan: LoadPlan, key) -> Any:
    """The declared resource behind an asset key (`<dataset>/<table>`)."""
    return plan.by_table(key.path[-1])


def _data_version(plan: LoadPlan, key, warehouse) -> dg.DataVersion | None:
    """The whole table's version by its cursor column (`table_version`): a no-change run, which loads no row,
    reports the version of the previous load, so automation downstream does not run for it. A resource without
    a time column reports none (Dagster records a new version per materialization)."""
    spec = _spec_of(plan, key)
    if not spec.cursor:
        return None
    version, _ = table_version(warehouse, plan.table(spec), spec.cursor)
    return dg.DataVersion(version)


def _selectors(plan: LoadPlan, base_url: str) -> dict[str, str]:
    """Where each endpoint's records sit in its pages, by the URL path the session sees."""
    return {
        _endpoint_path(base_url, spec).rstrip("/"): spec.endpoint.data_selector or plan.client.data_selector
        for spec in plan.resources
    }


class _CountingSession(RetryingSession):
    """Counts the records of every successful page by path (`rows_by_path`): the rows read from the API.

    It also holds the API to its declared envelope: dlt's data selector finds no rows in any other shape, so a
    changed envelope would load nothing and succeed. dlt's own `jsonpath` reads the selector, as dlt does."""

    def __init__(self, selectors: dict[str, str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.selectors = selectors
        self.rows_by_path: dict[str, int] = {}

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        path = urlsplit(response.url).path.rstrip("/")
        selector = self.selectors.get(path)
        if response.ok and selector and not kwargs.get("stream", False):
            body = response.json()
            found = jsonpath.find_values(selector, body)
            records = found[0] if len(found) == 1 else None
            if not isinstance(records, list):
                shape = sorted(body) if isinstance(body, dict) else type(body).__name__
                raise ApiRequestError(
                    path,
                    response.status_code,
                    f"GET {path}: the page is not the API's envelope (no list at {selector!r}): got {shape}",
                )
            with self._counts_lock:
                self.rows_by_path[path] = self.rows_by_path.get(path, 0) + len(records)
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
