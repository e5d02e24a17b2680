"""The demo writes nothing outside its state folder (issue #18): `nox -s demo` runs it twice with HOME at an
empty folder (DATAPLAT_DEMO_HOME), and that folder must still be empty. Sling's home folder, its Snowflake
driver's OCSP cache, dlt's pipelines and telemetry, Dagster's telemetry and the DuckDB CLI wrapper all used to
land there."""

import os
from pathlib import Path

import pytest


def test_the_demo_left_the_home_folder_empty():
    home = os.environ.get("DATAPLAT_DEMO_HOME")
    if not home:
        pytest.skip("run by `nox -s demo`, after the demo ran with HOME=DATAPLAT_DEMO_HOME")
    written = sorted(str(p.relative_to(home)) for p in Path(home).rglob("*"))
    assert written == []
    state = Path(os.environ["DATAPLAT_DEMO_STATE"])
    assert (state / "platform" / "sling" / "env.yaml").is_file()  # Sling ran, with its home in the state
    instance = (state / "dagster_home" / "dagster.yaml").read_text()
    assert "telemetry:\n  enabled: false" in instance
