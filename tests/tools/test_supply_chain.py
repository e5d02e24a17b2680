"""Internal packages come only from the internal index (tools/internal_index.py), tested against a hostile
public registry: a second local pypiserver serving an impostor of every `dataplat-*` name at the same version
as ours and at a higher one (and the real registry for every other name).

The impostors are installed by the pattern the platform used before (`--index-url <internal>
--extra-index-url <public>`), which shows that the stand-in is hostile; the platform's install paths install
the internal package or refuse. `nox -s release` runs the full paths (every package, every staging and prod
location from its hashed lock, the staging host) with the same impostors present.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import internal_index  # noqa: E402
from repo import UV, uv_env  # noqa: E402

CORE = "dataplat-core"


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """(internal index URL, public index URL, our core wheel's sha256, our core version)."""
    tmp = tmp_path_factory.mktemp("indexes")
    subprocess.run([UV, "build", "--quiet", "--wheel", "--out-dir", str(tmp / "dist"), str(ROOT / "packages" / "core")],
                   check=True, env=uv_env())  # fmt: skip
    ours = sorted((tmp / "dist").glob("*.whl"))
    ((_, version), sha256), *_ = internal_index.wheel_hashes(ours).items()
    with (
        internal_index.hostile_public_index(tmp) as public,
        internal_index.serve(tmp / "internal", proxy=public + "simple/") as internal,
    ):
        internal_index.publish(ours, internal)
        yield internal, public, sha256, version


def _venv(path: Path, *, seed: bool = False) -> Path:
    subprocess.run([UV, "venv", "--quiet", "-p", "3.11", *(["--seed"] if seed else []), str(path)],
                   check=True, env=uv_env())  # fmt: skip
    return path / "bin" / "python"


def _installed(python: Path) -> tuple[str, bool]:
    """(version, is the impostor) of dataplat-core in `python`'s venv."""
    probe = (
        "import importlib.metadata as m; d = m.distribution('dataplat-core'); "
        f"print(d.version, d.metadata['Summary'] == {internal_index.IMPOSTOR_SUMMARY!r})"
    )
    version, impostor = subprocess.run([str(python), "-c", probe], check=True, capture_output=True,
                                       text=True).stdout.split()  # fmt: skip
    return version, impostor == "True"


def test_the_old_extra_index_pattern_installs_the_impostor_which_shows_the_public_side_is_hostile(
    indexes, tmp_path
):
    internal, public, _, version = indexes
    python = _venv(tmp_path / "v")
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--no-deps", "--python", str(python), "--index-url", internal + "simple/",
         "--extra-index-url", public + "simple/", f"{CORE}=={version}"],
        check=True, env=uv_env(),
    )  # fmt: skip
    assert _installed(python) == (version, True)


@pytest.mark.parametrize("requirement", ["dataplat-core=={version}", "dataplat-core"])
def test_the_release_checks_install_takes_ours_pinned_or_open_to_a_higher_impostor(
    indexes, tmp_path, requirement
):
    internal, _, _, version = indexes
    python = internal_index.install_from_index(
        internal, [requirement.format(version=version)], tmp_path / "v", "--no-deps"
    )
    assert _installed(python) == (version, False)


def test_a_hashed_lock_installs_ours_with_uv_and_with_pip_as_the_image_does(indexes, tmp_path):
    internal, _, sha256, version = indexes
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"{CORE}=={version} \\\n    --hash=sha256:{sha256}\n")
    assert internal_index.locked_hashes(lock) == {CORE: (version, {sha256})}
    python = internal_index.install_from_index(internal, ["-r", str(lock)], tmp_path / "uv", "--require-hashes",
                                               "--no-deps")  # fmt: skip
    assert _installed(python) == (version, False)
    python = _venv(tmp_path / "pip", seed=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--isolated", "--quiet", "--require-hashes", "--no-deps",
         "--index-url", internal + "simple/", "-r", str(lock)],
        check=True, env=uv_env(),
    )  # fmt: skip
    assert _installed(python) == (version, False)


def test_a_hashed_lock_refuses_the_impostor_where_only_the_impostor_is_offered(indexes, tmp_path):
    _, public, sha256, version = indexes
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"{CORE}=={version} \\\n    --hash=sha256:{sha256}\n")
    python = _venv(tmp_path / "v")
    refused = subprocess.run(
        [UV, "pip", "install", "--no-deps", "--require-hashes", "--python", str(python),
         "--index-url", public + "simple/", "-r", str(lock)],
        capture_output=True, text=True, env=uv_env(),
    )  # fmt: skip
    assert refused.returncode != 0
    assert "hash" in refused.stderr.lower(), refused.stderr
    missing = subprocess.run([str(python), "-c", "import dataplat_core"], capture_output=True)
    assert missing.returncode != 0  # nothing installed


def test_a_lock_whose_platform_file_is_not_what_this_checkout_builds_is_named(indexes, tmp_path, monkeypatch):
    _, _, sha256, version = indexes
    wheel = tmp_path / f"dataplat_core-{version}-py3-none-any.whl"
    wheel.write_bytes(b"not the locked file")
    assert internal_index.stale_pins([wheel]) != []
    assert any(f"{CORE} {version}" in line for line in internal_index.stale_pins([wheel]))
    assert not any(CORE in line for line in internal_index.stale_pins([]))  # nothing built, nothing compared


def test_a_lock_that_also_pins_a_platform_sdist_is_named(tmp_path, monkeypatch):
    """The index holds wheels only: a second file locked for a platform package (an sdist, which changes with
    the package's dev lock and tests) is named, with the command that refreshes the lock."""
    import hashlib

    wheel = tmp_path / "dist" / "dataplat_core-9.9.9-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"the wheel")
    lock = tmp_path / "deployments" / "staging" / "x" / internal_index.LOCK_NAME
    lock.parent.mkdir(parents=True)
    pins = f"{CORE}==9.9.9 \\\n    --hash=sha256:{hashlib.sha256(b'the wheel').hexdigest()}"
    lock.write_text(pins + "\n")
    monkeypatch.setattr(internal_index, "ROOT", tmp_path)
    monkeypatch.setattr(internal_index, "RELEASED_DEPLOYMENTS", ("staging/x",))
    assert internal_index.stale_pins([wheel]) == []
    lock.write_text(pins + f" \\\n    --hash=sha256:{hashlib.sha256(b'the sdist').hexdigest()}\n")
    (problem,) = internal_index.stale_pins([wheel])
    assert (
        f"{CORE} 9.9.9" in problem and "besides its wheel" in problem and "internal_index.py lock" in problem
    )


def test_every_platform_file_the_locks_pin_is_what_this_checkout_builds(tmp_path):
    """A released version's content must not change: the staging and prod locks hold the hashes of the wheels
    this checkout builds (reproducibly), else the release check would refuse them. Fix: bump the version, or
    before a first release refresh the locks (`python tools/internal_index.py lock`)."""
    assert internal_index.stale_pins(internal_index.build_all(tmp_path / "dist")) == []


def test_every_platform_package_a_released_deployment_locks_is_its_direct_dependency_from_the_internal_index():
    """uv applies a project's sources to its own dependencies: each `dataplat-*` name in a staging or prod lock
    is one of the deployment's declared dependencies, bound to the explicit index `internal`."""
    import tomllib

    for deployment in internal_index.RELEASED_DEPLOYMENTS:
        folder = ROOT / "deployments" / deployment
        meta = tomllib.loads((folder / "pyproject.toml").read_text())
        (index,) = meta["tool"]["uv"]["index"]
        assert (index["name"], index["explicit"]) == ("internal", True)
        sources = meta["tool"]["uv"]["sources"]
        locked = {
            n
            for n in internal_index.locked_hashes(folder / internal_index.LOCK_NAME)
            if n.startswith("dataplat-")
        }
        assert locked, deployment
        assert {n: sources.get(n) for n in locked} == {n: {"index": "internal"} for n in locked}, deployment


def test_publishing_again_is_a_no_op_and_never_replaces_a_released_file(tmp_path):
    subprocess.run([UV, "build", "--quiet", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT / "packages" / "sandbox")],
                   check=True, env=uv_env())  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with internal_index.serve(tmp_path / "index", proxy=None) as url:
        assert internal_index.publish([wheel], url) == [wheel]
        stored = (tmp_path / "index" / wheel.name).read_bytes()
        assert internal_index.publish([wheel], url) == []  # the same file again: skipped
        other = tmp_path / "other" / wheel.name
        other.parent.mkdir()
        other.write_bytes(wheel.read_bytes() + b"\0")  # same name, other bytes
        with pytest.raises(SystemExit, match="a released file is never replaced"):
            internal_index.publish([other], url)
        assert (tmp_path / "index" / wheel.name).read_bytes() == stored
