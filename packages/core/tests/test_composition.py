"""One composition per code location, each environment stating only how it differs (`composition.py`):
compositions and deployments written in tmp_path, loaded the way `code_location` loads them."""

from pathlib import Path

import dagster as dg
import pytest
from dataplat_core.composition import CompositionError, Deployment

PROBE = """\
type: composition_probe.ProbeComponent
template_vars_module: dataplat_core.template_vars
attributes:
  name: {name}
  end_date: "{{{{ environment.end_date }}}}"
  hours: "{{{{ environment.{hours} }}}}"
"""


def composition(root: Path, *, hours_value: str = "hours") -> Path:
    folder = root / "locations" / "probe"
    for name in ("sales", "refunds"):
        (folder / "defs" / name).mkdir(parents=True)
        (folder / "defs" / name / "defs.yaml").write_text(PROBE.format(name=name, hours=hours_value))
    (folder / "values.yaml").write_text("end_date: null\nhours: 36\n")
    return folder


def deployment(root: Path, env: str, values: str = "") -> Path:
    folder = root / env / "probe"
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{env}-probe"\n')
    (folder / "environment.yaml").write_text(f"composition: ../../locations/probe\n{values}")
    return folder


def shown(defs: dg.Definitions) -> dict[str, dict]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): {k: graph.get(key).metadata[k] for k in ("end_date", "hours")}
        for key in graph.get_all_asset_keys()
    }


def test_each_environment_gets_the_defaults_and_only_the_values_it_sets(tmp_path):
    composition(tmp_path)
    local = deployment(tmp_path, "local", 'values:\n  end_date: "2026-04-01"\n')
    prod = deployment(tmp_path, "prod")
    assert shown(Deployment.of(local / "src").build_defs()) == {
        "sales": {"end_date": "2026-04-01", "hours": 36},
        "refunds": {"end_date": "2026-04-01", "hours": 36},
    }
    assert shown(Deployment.of(prod).build_defs()) == {
        "sales": {"end_date": "open", "hours": 36},
        "refunds": {"end_date": "open", "hours": 36},
    }


def test_a_value_the_composition_does_not_declare_refuses_the_load_naming_both_files(tmp_path):
    composition(tmp_path)
    qa = deployment(tmp_path, "qa", "values:\n  end_dat: '2026-04-01'\n")
    with pytest.raises(CompositionError) as refused:
        Deployment.of(qa)
    said = str(refused.value)
    assert str(qa / "environment.yaml") in said and "end_dat not declared in" in said
    assert "values.yaml; declared: end_date, hours" in said


def test_yaml_reading_an_undeclared_value_refuses_the_load_naming_it(tmp_path):
    composition(tmp_path, hours_value="max_hours")
    local = deployment(tmp_path, "local")
    with pytest.raises(Exception) as refused:
        Deployment.of(local).build_defs()
    causes, error = [], refused.value
    while error is not None:  # Dagster wraps it in the component tree's error; the user sees the chain
        causes, error = [*causes, str(error)], error.__cause__
    assert "refunds" in causes[0]
    assert any("`environment.max_hours` is read by YAML but not declared in" in c for c in causes), causes


def test_a_deployment_without_a_composition_refuses_the_load(tmp_path):
    folder = deployment(tmp_path, "local")
    with pytest.raises(CompositionError, match="has no defs/ folder"):
        Deployment.of(folder)
    (folder / "environment.yaml").write_text("values: {}\n")
    Deployment.at.cache_clear()
    with pytest.raises(CompositionError, match="expected `composition:`"):
        Deployment.of(folder)
