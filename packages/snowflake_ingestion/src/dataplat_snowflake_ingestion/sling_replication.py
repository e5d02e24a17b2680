"""Sling database replication as a component that uses the platform's shared `sling` resource.

Differences from `dagster_sling.SlingReplicationCollectionComponent`, which it extends:
- connections come from the core's resource factory (environment variables), never from YAML;
- Sling runs in streaming mode, so one failing stream does not mark every other stream failed;
- the replication runs in the `warehouse` concurrency pool: DuckDB allows one writer per file;
- an asset's key is its warehouse table (`raw_shop/orders` for `raw_shop.orders`), without Sling's `target`
  prefix, and every stream with a primary key gets the core's table checks.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster.components.resolved.core_models import OpSpec
from dagster_sling import SlingReplicationCollectionComponent, SlingResource, sling_assets
from dagster_sling.asset_decorator import get_streams_from_replication
from dagster_sling.components.sling_replication_collection.component import (
    SlingComponentTranslator,
    SlingReplicationSpecModel,
)
from dagster_sling.sling_replication import validate_replication
from dataplat_core.checks import source_row_count_check, table_checks

WAREHOUSE_POOL = "warehouse"


def expand_replication(path: Path) -> dict[str, Any]:
    """The replication with each stream's target `object` spelled out from `defaults.object`.

    Sling applies `defaults.object` itself, but dagster-sling names assets from the stream's own config only;
    writing the object into each stream gives the same replication to Sling and the table's name to Dagster.
    """
    config = dict(validate_replication(path))
    template = (config.get("defaults") or {}).get("object")
    streams = {}
    for name, stream in (config.get("streams") or {}).items():
        stream = dict(stream or {})
        if template and "object" not in stream:
            schema, _, table = name.rpartition(".")
            stream["object"] = template.replace("{stream_schema}", schema).replace("{stream_table}", table)
        streams[name] = stream
    return {**config, "streams": streams}


@dataclass
class DatabaseReplicationComponent(SlingReplicationCollectionComponent):
    """Sling replications (a `replication.yaml` each) into the warehouse, through the shared `sling` resource.

    `row_count_tolerance`: how far (a fraction of the source's rows) a table may differ from its source table
    in the `row_count_matches_source` check; the source keeps changing between a load and its check.
    """

    row_count_tolerance: float = 0.01

    def get_asset_spec(self, stream_definition: Mapping[str, Any]) -> dg.AssetSpec:
        spec = super().get_asset_spec(stream_definition)
        key = dg.AssetKey(spec.key.path[1:]) if spec.key.path[0] == "target" else spec.key
        return spec.replace_attributes(key=key, group_name=spec.group_name or key.path[0])

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        defs = super().build_defs(context)
        checks = []
        for replication in self.replications:
            config = expand_replication(context.path / replication.path)
            for stream in get_streams_from_replication(config):
                primary_key = stream["config"].get("primary_key") or config.get("defaults", {}).get(
                    "primary_key"
                )
                if primary_key:
                    key = self.get_asset_spec(stream).key
                    table = ".".join(key.path)
                    checks += table_checks(key, table, primary_key=primary_key)
                    checks.append(
                        source_row_count_check(key, table, stream["name"], self.row_count_tolerance)
                    )
        return dg.Definitions.merge(defs, dg.Definitions(asset_checks=checks))

    def build_asset(
        self, context: dg.ComponentLoadContext, replication_spec_model: SlingReplicationSpecModel
    ) -> dg.AssetsDefinition:
        op_spec = replication_spec_model.op or OpSpec()
        translator = SlingComponentTranslator(self, replication_spec_model, context.path)

        @sling_assets(
            name=op_spec.name or Path(replication_spec_model.path).stem,
            op_tags=op_spec.tags,
            replication_config=expand_replication(context.path / replication_spec_model.path),
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
