"""Definitions builder: what a deployment merges from this package."""

import dagster as dg


def build_definitions() -> dg.Definitions:
    return dg.Definitions()
