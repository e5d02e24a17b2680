"""The package installs on its own, registers its component module with dg, and builds loadable definitions."""

from importlib.metadata import entry_points, version

import dagster as dg
import dataplat_ml_training
from dataplat_ml_training.definitions import build_definitions


def test_component_module_is_registered_for_dg():
    registered = {ep.name: ep.value for ep in entry_points(group="dagster_dg_cli.registry_modules")}
    assert registered.get("dataplat_ml_training") == "dataplat_ml_training.components"
    assert entry_points(group="dagster_dg_cli.registry_modules", name="dataplat_ml_training")[0].load()


def test_version_comes_from_the_installed_metadata():
    assert dataplat_ml_training.__version__ == version("dataplat-ml-training")


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(build_definitions())
