"""Compose component definitions with the environment's shared resources (the deployments call this)."""

from __future__ import annotations

import dagster as dg

from dataplat_core.environment import PlatformEnv
from dataplat_core.resources import build_resources


def platform_definitions(*component_defs: dg.Definitions, env: PlatformEnv | None = None) -> dg.Definitions:
    return dg.Definitions.merge(*component_defs, dg.Definitions(resources=build_resources(env)))
