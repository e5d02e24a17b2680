"""The code location: the components declared under defs/, composed with the environment's resources."""

import dagster as dg
from dataplat_core.definitions import code_location


@dg.definitions
def defs() -> dg.Definitions:
    return code_location(__file__, environment="staging")
