"""tools/workspace.py on the repository itself: projects are found from their pyproject.toml files, and a change
selects the test sessions of the changed projects and of everything that depends on them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import workspace  # noqa: E402

EVERY = workspace.projects()
ANALYTICS = {"dataplat-local-analytics", "dataplat-staging-analytics", "dataplat-prod-analytics"}


def test_every_package_and_deployment_is_found_with_its_platform_dependencies():
    on_disk = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("packages/*/pyproject.toml")}
    on_disk |= {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("deployments/*/*/pyproject.toml")}
    assert {p.path for p in EVERY.values()} == on_disk
    assert EVERY["dataplat-core"].requires == {"dataplat-sandbox"}  # its tests run on the sandbox
    assert "dataplat-core" not in EVERY["dataplat-sandbox"].requires
    assert EVERY["dataplat-local-analytics"].requires >= {
        "dataplat-core",
        "dataplat-ml-training",
        "dataplat-reporting",
    }
    assert "dataplat-sandbox" in EVERY["dataplat-snowflake-ingestion"].requires  # a test dependency counts


def test_a_change_in_core_selects_everything_but_the_sandbox_which_does_not_use_it():
    selected = workspace.affected(["packages/core/src/dataplat_core/runner.py"], EVERY)
    assert selected == set(EVERY) - {"dataplat-sandbox"}
    everything = workspace.sessions_for(None, EVERY)
    assert workspace.sessions_for(selected, EVERY) == [s for s in everything if s != "tests(sandbox)"]


def test_a_change_in_the_sandbox_selects_everything_that_tests_with_it():
    selected = workspace.affected(["packages/sandbox/src/dataplat_sandbox/landing.py"], EVERY)
    assert selected == set(EVERY)


def test_a_change_in_reporting_selects_reporting_and_the_analytics_locations_only():
    selected = workspace.affected(["packages/reporting/src/dataplat_reporting/sql_mart.py"], EVERY)
    assert selected == {"dataplat-reporting"} | ANALYTICS
    sessions = workspace.sessions_for(selected, EVERY)
    assert sessions == ["demo", "deployment(local-analytics)", "release", "tests(reporting)", "ui", "lint"]


def test_a_change_outside_every_project_runs_everything_and_documentation_only_lint():
    assert workspace.affected(["noxfile.py"], EVERY) is None
    assert workspace.affected(["tools/repo.py", "packages/core/README.md"], EVERY) is None
    assert workspace.affected(["docs/architecture.md", "README.md"], EVERY) == set()
    assert workspace.sessions_for(set(), EVERY) == ["lint"]


def test_changed_files_include_uncommitted_and_untracked_files(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    (tmp_path / "b.txt").write_text("1")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (tmp_path / "a.txt").write_text("2")  # changed, not committed
    (tmp_path / "new.txt").write_text("1")  # untracked
    assert workspace.changed_files("HEAD", tmp_path) == ["a.txt", "new.txt"]


def test_the_noxfile_runs_the_sessions_the_selection_names():
    """Every session name `sessions_for` can return is a session of the noxfile (the suite checks its lanes
    against the registered sessions)."""
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {line.split()[1] for line in listed.splitlines() if line[:2] in ("- ", "* ")}
    assert set(workspace.sessions_for(None, EVERY)) <= names


def test_the_dg_workspace_and_the_demo_serve_exactly_the_local_code_locations():
    """dg.toml is read by `dg` itself and the demo orders the locations (upstream first), so both still name
    them; they must name the ones the workspace finds."""
    import importlib.util
    import tomllib

    local = set(workspace.local_deployments(EVERY).values())
    dg_toml = tomllib.loads((ROOT / "dg.toml").read_text())
    assert {p["path"] for p in dg_toml["workspace"]["projects"]} == local
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert {path for _, path, _ in demo.LOCATIONS} == local
