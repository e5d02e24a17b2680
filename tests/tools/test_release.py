"""tools/release.py: the version discipline on a package of its own in a temporary tree, and on this repository."""

import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import release  # noqa: E402


@pytest.fixture
def tree(tmp_path) -> Path:
    folder = tmp_path / "packages" / "demo"
    (folder / "src" / "demo").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "dataplat-demo"\nversion = "0.1.0"\n')
    (folder / "README.md").write_text("# demo\n")
    (folder / "src" / "demo" / "__init__.py").write_text("VALUE = 1\n")
    (folder / "CHANGELOG.md").write_text(
        "# Changelog\n\n## Unreleased\n\n## 0.1.0 (2026-12-01)\n\n- First.\n"
    )
    return tmp_path


def test_a_released_package_changed_without_a_bump_is_refused_until_bumped_and_recorded(tree):
    folder = tree / "packages" / "demo"
    assert release.problems(tree) == []  # nothing released yet, and 0.1.0 has its heading
    release.record(folder, tree)
    assert release.problems(tree) == []
    (folder / "src" / "demo" / "__init__.py").write_text("VALUE = 2\n")
    (found,) = release.problems(tree)
    assert found.startswith(
        "packages/demo: dataplat-demo 0.1.0 is released and its files changed since: bump"
    )
    with pytest.raises(SystemExit, match="no entries under `## Unreleased`"):
        release.bump(folder, "minor")  # nothing said about the change yet
    changelog = folder / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## Unreleased\n", "## Unreleased\n\n- VALUE is 2.\n"))
    assert release.bump(folder, "minor", today=date(2026, 12, 5)) == "0.2.0"
    assert changelog.read_text().startswith(
        "# Changelog\n\n## Unreleased\n\n## 0.2.0 (2026-12-05)\n\n- VALUE is 2.\n"
    )
    assert release.problems(tree) == []  # a new version with its heading, not yet released
    release.record(folder, tree)
    assert [(r["package"], r["version"]) for r in release.releases(tree)] == [
        ("dataplat-demo", "0.1.0"),
        ("dataplat-demo", "0.2.0"),
    ]
    with pytest.raises(SystemExit, match="already released"):
        release.record(folder, tree)


def test_a_version_below_the_last_release_or_without_a_heading_is_refused(tree):
    folder = tree / "packages" / "demo"
    release.record(folder, tree)
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"0.1.0"', '"0.0.9"'))
    assert any("is not above its last release 0.1.0" in p for p in release.problems(tree))
    pyproject.write_text(pyproject.read_text().replace('"0.0.9"', '"0.1.1"'))
    assert release.problems(tree) == [
        "packages/demo: dataplat-demo 0.1.1 has no `## 0.1.1` heading in CHANGELOG.md"
    ]


def test_tests_and_the_changelog_are_not_release_contents(tree):
    folder = tree / "packages" / "demo"
    before = release.contents_hash(folder)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_x.py").write_text("def test(): pass\n")
    (folder / "CHANGELOG.md").write_text("# Changelog\n")
    assert release.contents_hash(folder) == before
    (folder / "README.md").write_text("# demo, described\n")  # the wheel's long description
    assert release.contents_hash(folder) != before


def test_every_package_of_this_repository_is_released_as_recorded_or_bumped_with_a_heading():
    assert release.problems() == []
    recorded = {r["package"] for r in release.releases()}
    assert recorded == {release.meta(f)[0] for f in release.package_folders()}


def _deployment(root: Path, env: str, location: str, pin: str) -> Path:
    folder = root / "deployments" / env / location
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "x-{env}-{location}"\ndependencies = [\n    "{pin}",\n]\n'
    )
    return folder


def test_promote_pins_a_released_version_in_staging_then_prod_keeping_extras(tree):
    folder = tree / "packages" / "demo"
    release.record(folder, tree)
    staging = _deployment(tree, "staging", "a", "dataplat-demo[extra]==0.0.1")
    prod = _deployment(tree, "prod", "a", "dataplat-demo[extra]==0.0.1")
    untouched = _deployment(tree, "staging", "b", "dataplat-other==1.0.0")
    with pytest.raises(SystemExit, match="is not in staging yet"):
        release.promote(folder, "prod", tree)
    assert release.promote(folder, "staging", tree) == [staging]
    assert release.pinned(staging, "dataplat-demo") == "0.1.0"
    assert '"dataplat-demo[extra]==0.1.0"' in (staging / "pyproject.toml").read_text()
    assert release.pinned(untouched, "dataplat-demo") is None
    assert release.promote(folder, "prod", tree) == [prod]
    assert release.promote(folder, "prod", tree) == []  # already there


def test_an_unreleased_version_cannot_be_promoted(tree):
    _deployment(tree, "staging", "a", "dataplat-demo==0.0.1")
    with pytest.raises(SystemExit, match="is not released"):
        release.promote(tree / "packages" / "demo", "staging", tree)
