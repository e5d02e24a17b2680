"""Sling database replication as a component that uses the platform's shared `sling` resource.

Differences from `dagster_sling.SlingReplicationCollectionComponent`, which it extends:
- connections come from the core's resource factory (environment variables), never from YAML;
- Sling runs in streaming mode, so one failing stream does not mark every other stream failed;
- the replication runs in the `warehouse` concurrency pool: DuckDB allows one writer per file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster.components.resolved.core_models import OpSpec
from dagster_sling import SlingReplicationCollectionComponent, SlingResource, sling_assets
from dagster_sling.components.sling_replication_collection.component import (
    SlingComponentTranslator,
    SlingReplicationSpecModel,
)

WAREHOUSE_POOL = "warehouse"


@dataclass
class DatabaseReplicationComponent(SlingReplicationCollectionComponent):
    """Sling replications (a `replication.yaml` each) into the warehouse, through the shared `sling` resource."""

    def build_asset(
        self, context: dg.ComponentLoadContext, replication_spec_model: SlingReplicationSpecModel
    ) -> dg.AssetsDefinition:
        op_spec = replication_spec_model.op or OpSpec()
        translator = SlingComponentTranslator(self, replication_spec_model, context.path)

        @sling_assets(
            name=op_spec.name or Path(replication_spec_model.path).stem,
            op_tags=op_spec.tags,
            replication_config=context.path / replication_spec_model.path,
            dagster_sling_translator=translator,
            backfill_policy=op_spec.backfill_policy,
            pool=op_spec.pool or WAREHOUSE_POOL,
        )
        def _replication(context: dg.AssetExecutionContext, sling: SlingResource):
            iterator = sling.replicate(context=context, stream=True)
            if "column_metadata" in replication_spec_model.include_metadata:
                iterator = iterator.fetch_column_metadata()
            if "row_count" in replication_spec_model.include_metadata:
                iterator = iterator.fetch_row_count()
            yield from iterator

        return _replication
