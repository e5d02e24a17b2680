"""Deterministic local fake sources for the online shop."""
