"""The code location: the components declared under defs/, composed with the environment's resources."""

from pathlib import Path

import dagster as dg
from dataplat_core.definitions import platform_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return platform_definitions(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
