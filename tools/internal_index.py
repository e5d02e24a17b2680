"""The internal package index: build every platform package and publish it to a real index server.

    uv run --locked python tools/internal_index.py serve [--port 8765] [--dir .dataplat/index]
    uv run --locked python tools/internal_index.py publish --url http://127.0.0.1:8765/
    uv run --locked python tools/internal_index.py check        # what `nox -s release` runs

`check` proves the release path end to end: it starts pypiserver on a free 127.0.0.1 port, builds each
package's wheel with `uv build --wheel` (the index holds wheels only, see `build_all`) and uploads it with
`uv publish`, then installs each package into a fresh venv from that index at its pinned version and imports
it there. Deployments for staging and prod install the same way, from their hashed `requirements.lock`.

Supply chain: every install names one index, the internal one. It holds the platform's `dataplat-*` packages
and proxies the public registry for every name it does not hold (pypiserver's fallback here; a company's
Artifactory, Nexus or devpi "virtual" index), so a package that takes a `dataplat-*` name on the public
registry is never consulted for it. There is no `--extra-index-url`: with one, uv consults the extra index
first and pip treats both as equals, and an impostor wins. The locks carry every file's hash and installs
`--require-hashes`: a file that is not the one locked is refused. `check` runs every install path with such an
impostor on the "public" side (a second local pypiserver serving every `dataplat-*` name at the same and at a
higher version, then the real registry) and asserts that none of it is installed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import workspace
from repo import ROOT, UV, placeholder_env, uv_env

PROJECTS = workspace.projects()
PACKAGES = list(workspace.packages(PROJECTS))  # folder names under packages/
# Deployments that install released components from the index (every one but local): each has a
# requirements.lock.
RELEASED_DEPLOYMENTS = sorted(
    p.path.removeprefix("deployments/")
    for p in PROJECTS.values()
    if p.kind == "deployment" and not p.path.startswith("deployments/local/")
)
PUBLIC_INDEX = "https://pypi.org/simple/"
DIST_PREFIX = "dataplat-"


def package_meta(folder: str) -> tuple[str, str, str]:
    """(distribution name, version, import name) of packages/<folder>."""
    meta = tomllib.loads((ROOT / "packages" / folder / "pyproject.toml").read_text())
    module = Path(meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"][0]).name
    return meta["project"]["name"], meta["project"]["version"], module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(directory: Path, port: int | None = None, *, proxy: str | None = PUBLIC_INDEX):
    """A pypiserver on 127.0.0.1 that accepts uploads without authentication (loopback only). For a name it
    does not hold it redirects to `proxy` (a simple index URL), as an internal index proxies the public
    registry; `proxy=None`: it answers 404."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    fallback = ["--fallback-url", proxy] if proxy else ["--disable-fallback"]
    server = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
         *fallback, str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "simple/", timeout=2).close()
                break
            except OSError as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    stderr = server.stderr.read().decode()[-2000:]
                    raise RuntimeError(f"pypiserver did not start: {stderr}") from exc
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def build_all(out: Path) -> list[Path]:
    """The wheel of every package as this checkout holds it, and of every earlier release a staging or prod
    deployment still pins (built from the commit that recorded it: the builds are reproducible, so the files are
    the released ones), as a throwaway index serves what the real one holds.

    Wheels only: a wheel is built from what a release records (pyproject.toml, README.md, src/), while an sdist
    also carries the package's dev lock, tests and changelog, so a released version's sdist changed whenever
    its dev lock did; its locked hash then moved and a second publish refused the new file under the released
    name. An install from the index never builds either."""
    out.mkdir(parents=True, exist_ok=True)
    for folder in PACKAGES:
        subprocess.run([UV, "build", "--quiet", "--wheel", "--out-dir", str(out), str(ROOT / "packages" / folder)],
                       check=True, env=uv_env())  # fmt: skip
    for folder, source in earlier_releases(out.parent / "history"):
        subprocess.run([UV, "build", "--quiet", "--wheel", "--out-dir", str(out), str(source / "packages" / folder)],
                       check=True, env=uv_env())  # fmt: skip
    return sorted(out.glob("*"))


def earlier_releases(work: Path) -> list[tuple[str, Path]]:
    """(package folder, a checkout of it) for each release pinned by a released deployment at another version
    than this checkout's, from the commit that added its record to releases.toml."""
    import release

    wanted = []
    for folder in PACKAGES:
        dist, version, _ = package_meta(folder)
        versions = {release.pinned(ROOT / "deployments" / d, dist) for d in RELEASED_DEPLOYMENTS} - {
            None,
            version,
        }
        for old in sorted(versions):
            entry = next(
                (r for r in release.releases() if r["package"] == dist and r["version"] == old), None
            )
            if entry is None:
                raise SystemExit(
                    f"{dist} {old} is pinned by a deployment but was never released (releases.toml)"
                )
            commit = subprocess.run(
                ["git", "log", "--format=%H", "--reverse", "-S", entry["contents"], "--", release.RECORD_NAME],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            if not commit:
                raise SystemExit(f"{dist} {old}: no commit records it (is this clone shallow?)")
            target = work / f"{folder}-{old}"
            target.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "archive", commit[0], f"packages/{folder}"], cwd=ROOT,
                                     capture_output=True, check=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
            wanted.append((folder, target))
    return wanted


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is the index proxying a name it does not hold


def held_files(url: str, dist: str) -> dict[str, str]:
    """{file name: sha256} of `dist` that the index at `url` holds itself (a proxied listing is not its own)."""
    name = re.sub(r"[-_.]+", "-", dist).lower()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(f"{url.rstrip('/')}/simple/{name}/", timeout=30) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code in (301, 302, 303, 307, 308, 404):
            return {}
        raise
    return dict(re.findall(r'href="[^"#]*/([^/"#]+)#sha256=([0-9a-f]{64})"', page))


def publish(files: list[Path], url: str) -> list[Path]:
    """Upload the files the index does not hold yet (a re-run is a no-op); refuse a file whose name the index
    holds with other bytes: a released file is never replaced. Returns the uploaded files."""
    new, clashes = [], []
    for path in files:
        dist = path.name.split("-")[0]
        held = held_files(url, dist).get(path.name)
        if held is None:
            new.append(path)
        elif held != hashlib.sha256(path.read_bytes()).hexdigest():
            clashes.append(path.name)
    if clashes:
        raise SystemExit(
            f"{url}: holds other files under these names, a released file is never replaced: {clashes}"
        )
    if new:
        subprocess.run(
            [UV, "publish", "--publish-url", url, "--username", "ci", "--password", "unused", *map(str, new)],
            check=True, env=uv_env(), capture_output=True,
        )  # fmt: skip
    return new


def install_from_index(index_url: str, requirements: list[str], venv: Path, *options: str) -> Path:
    """A fresh venv with `requirements` installed from the internal index, the only index named (it proxies
    the public registry for the names it does not hold)."""
    subprocess.run([UV, "venv", "--quiet", "-p", "3.11", str(venv)], check=True, env=uv_env())
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "--index-url", index_url + "simple/", *options, *requirements],
        check=True, env=uv_env(),
    )  # fmt: skip
    return venv / "bin" / "python"


LOCK_NAME = "requirements.lock"
_LOCKED = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)(?P<rest>(?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", re.M
)


def locked_hashes(lock: Path) -> dict[str, tuple[str, set[str]]]:
    """{distribution: (version, sha256 hashes)} of a hashed requirements lock."""
    return {
        m["name"].lower(): (m["version"], set(re.findall(r"sha256:([0-9a-f]{64})", m["rest"])))
        for m in _LOCKED.finditer(lock.read_text())
    }


def wheel_hashes(files: list[Path]) -> dict[tuple[str, str], str]:
    """{(distribution, version): sha256} of the built wheels."""
    found = {}
    for wheel in files:
        if wheel.suffix == ".whl":
            name, version = wheel.name.split("-")[:2]
            found[(name.replace("_", "-").lower(), version)] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return found


def stale_pins(files: list[Path]) -> list[str]:
    """Each platform package a released deployment's lock pins at a version whose wheel, built from this
    checkout, is not the file the lock holds (a released version's content changed; the builds are
    reproducible: hatchling pinned, no timestamps), or pins other files besides it (the index holds wheels
    only, see `build_all`)."""
    built = wheel_hashes(files)
    problems = []
    for deployment in RELEASED_DEPLOYMENTS:
        lock = ROOT / "deployments" / deployment / LOCK_NAME
        for name, (version, hashes) in sorted(locked_hashes(lock).items()):
            if (name, version) not in built:
                continue
            if built[(name, version)] not in hashes:
                problems.append(
                    f"{lock.relative_to(ROOT)}: {name} {version} (this checkout builds another file)"
                )
            elif len(hashes) > 1:
                problems.append(
                    f"{lock.relative_to(ROOT)}: {name} {version} (pins {len(hashes) - 1} file(s) besides its wheel, "
                    "which the internal index does not hold: `python tools/internal_index.py lock`)"
                )
    return problems


def compile_lock(index_url: str, deployment: str, files: list[Path]) -> Path:
    """deployments/<env>/<location>/requirements.lock: every pin with its files' hashes, resolved through the
    internal index alone. Refused when a platform package's locked file is not the one built here (the
    index handed out something else under our name)."""
    project = ROOT / "deployments" / deployment
    lock = project / LOCK_NAME
    subprocess.run(
        [UV, "pip", "compile", "--quiet", str(project / "pyproject.toml"), "-o", str(lock),
         # Our names from the deployment's explicit index `internal` (its pyproject's sources), at this URL;
         # every other name through the same index, which proxies the public registry.
         "--python-version", "3.11", "--index", f"internal={index_url}simple/", "--index-url", index_url + "simple/",
         "--generate-hashes",
         # the existing lock's pins are kept for everything else; ours are read afresh (with their hashes)
         *(f"--upgrade-package={package_meta(folder)[0]}" for folder in PACKAGES),
         "--no-emit-index-url", "--custom-compile-command", "python tools/internal_index.py lock"],
        check=True, env=uv_env(),
    )  # fmt: skip
    built, locked = wheel_hashes(files), locked_hashes(lock)
    foreign = [
        f"{name} {version}"
        for name, (version, hashes) in locked.items()
        if name.startswith(DIST_PREFIX) and built.get((name, version)) not in hashes
    ]
    if foreign:
        raise SystemExit(
            f"{lock.relative_to(ROOT)}: {', '.join(foreign)} locked to files this checkout did not build"
        )
    return lock


def install_deployment(index_url: str, deployment: str, venv: Path) -> Path:
    """A fresh venv as the environment's image builds it (docs/release.md): the hashed lock from the internal
    index with `--require-hashes`, then the deployment itself from its folder (its `environment.yaml` finds the
    composition by relative path, so the image keeps both folders and installs the deployment in place)."""
    lock = ROOT / "deployments" / deployment / LOCK_NAME
    python = install_from_index(index_url, ["-r", str(lock)], venv, "--require-hashes")
    subprocess.run([UV, "pip", "install", "--quiet", "--no-deps", "--python", str(python),
                    "-e", str(ROOT / "deployments" / deployment)], check=True, env=uv_env())  # fmt: skip
    return python


IMPOSTOR_SUMMARY = "impostor: not the platform's package"


def impostor_wheels(out: Path, versions: tuple[str, ...]) -> list[Path]:
    """For every platform package, a wheel of the same name at each of `versions` with other content (a module
    of the same import name holding `IMPOSTOR = True`): what a stranger could publish on the public registry."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = []
    for folder in PACKAGES:
        dist, _, module = package_meta(folder)
        for version in versions:
            stem = f"{dist.replace('-', '_')}-{version}"
            files = {
                f"{module}/__init__.py": b"IMPOSTOR = True\n",
                f"{stem}.dist-info/METADATA": (
                    f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: {IMPOSTOR_SUMMARY}\n"
                ).encode(),
                f"{stem}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: impostor\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            }
            record = [
                f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
                for path, data in files.items()
            ]
            files[f"{stem}.dist-info/RECORD"] = (
                "\n".join([*record, f"{stem}.dist-info/RECORD,,"]) + "\n"
            ).encode()
            wheel = out / f"{stem}-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as archive:
                for path, data in files.items():
                    archive.writestr(path, data)
            wheels.append(wheel)
    return wheels


# Run in an installed venv: every platform distribution there, and any that is an impostor.
PLATFORM_DISTS_PROBE = (
    "import importlib.metadata as m, json; "
    f"print(json.dumps({{d.metadata['Name']: [d.version, d.metadata['Summary'] == {IMPOSTOR_SUMMARY!r}] "
    f"for d in m.distributions() if d.metadata['Name'].startswith({DIST_PREFIX!r})}}))"
)


def platform_dists(python: Path) -> dict[str, str]:
    """{distribution: version} of the platform packages in `python`'s venv; refuses a venv holding an impostor."""
    out = subprocess.run(
        [str(python), "-c", PLATFORM_DISTS_PROBE], check=True, capture_output=True, text=True
    )
    found = json.loads(out.stdout)
    impostors = sorted(f"{name} {version}" for name, (version, bad) in found.items() if bad)
    if impostors:
        raise SystemExit(f"{python}: the public registry's impostor was installed: {', '.join(impostors)}")
    return {name: version for name, (version, _) in found.items()}


@contextmanager
def hostile_public_index(tmp: Path):
    """A stand-in for the public registry that a stranger has published `dataplat-*` names on: a pypiserver
    serving an impostor of every platform package at the same version as ours and at a higher one, and the
    real registry for every other name."""
    versions = tuple(sorted({package_meta(f)[1] for f in PACKAGES})) + ("99.0.0",)
    with serve(tmp / "public", proxy=PUBLIC_INDEX) as url:
        publish(impostor_wheels(tmp / "impostors", versions), url)
        yield url


def write_sbom(python: Path, deployment: str, out: Path) -> Path:
    """A CycloneDX SBOM (JSON) of a released location's installed venv, `out/sbom-<env>-<location>.cdx.json`,
    checked to list every platform package at the version installed."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"sbom-{deployment.replace('/', '-')}.cdx.json"
    subprocess.run(
        [sys.executable, "-m", "cyclonedx_py", "environment", "--pyproject",
         str(ROOT / "deployments" / deployment / "pyproject.toml"), "--of", "JSON", "--output-reproducible",
         "-o", str(target), str(python)],
        check=True, capture_output=True,
    )  # fmt: skip
    listed = {c["name"]: c.get("version") for c in json.loads(target.read_text()).get("components", [])}
    installed = platform_dists(python)
    missing = {name: version for name, version in installed.items() if listed.get(name) != version}
    # The deployment itself is the SBOM's subject (metadata.component), not one of its components.
    missing.pop(
        tomllib.loads((ROOT / "deployments" / deployment / "pyproject.toml").read_text())["project"]["name"],
        None,
    )
    if missing:
        raise SystemExit(f"{target}: the SBOM lacks {missing}")
    return target


def check(release_output: Path = ROOT / ".dataplat" / "release") -> int:
    """The release path end to end (module docstring); its output (an SBOM per location) in `release_output`."""
    with tempfile.TemporaryDirectory(prefix="dataplat-index-") as tmp:
        tmp_path = Path(tmp)
        files = build_all(tmp_path / "dist")
        stale = stale_pins(files)
        if stale:
            raise SystemExit(
                "a released version's content changed since the deployments' locks were written:\n  "
                + "\n  ".join(stale)
                + "\nA released version is immutable: bump the package's version (docs/release.md); before its "
                "first release, refresh the locks: `uv run --locked python tools/internal_index.py lock`."
            )
        with hostile_public_index(tmp_path) as public, serve(tmp_path / "index", proxy=public) as url:
            publish(files, url)
            print(
                f"published {len(files)} files to {url}; the public side ({public}) serves impostors of them"
            )
            for folder in PACKAGES:
                dist, version, module = package_meta(folder)
                # pinned, and open to the impostor's higher version
                for n, wanted in enumerate((f"{dist}=={version}", dist)):
                    python = install_from_index(url, [wanted], tmp_path / f"venv-{folder}-{n}")
                    probe = (
                        f"import importlib.metadata as m, sys; import {module}; "
                        f"d = m.distribution({dist!r}); "
                        "assert str(d.locate_file('')).startswith(sys.prefix), d.locate_file(''); "
                        f"assert not getattr({module}, 'IMPOSTOR', False); print({dist!r}, d.version)"
                    )
                    out = subprocess.run(
                        [str(python), "-c", probe], check=True, capture_output=True, text=True
                    )
                    assert platform_dists(python)[dist] == version, (wanted, platform_dists(python))
                print(f"installed from the index in a fresh venv, pinned and unpinned: {out.stdout.strip()}")
            pythons: dict[str, dict[str, Path]] = {}
            for deployment in RELEASED_DEPLOYMENTS:
                env_name, location = deployment.split("/")
                python = install_deployment(url, deployment, tmp_path / f"venv-{env_name}-{location}")
                print(f"{deployment}: SBOM {write_sbom(python, deployment, release_output)}")
                pythons.setdefault(env_name, {})[location] = python
                module = f"dataplat_{env_name}_{location}.definitions"
                load = (
                    "import dagster as dg; from dataplat_core.runner import load_definitions; "
                    f"d = load_definitions({module!r}); dg.Definitions.validate_loadable(d); "
                    "print(len(d.resolve_asset_graph().get_all_asset_keys()), 'assets;', "
                    "', '.join(f'{k}={v.value}' for k, v in d.metadata.items() if k.startswith('version/')))"
                )
                out = subprocess.run([str(python), "-c", load], env=uv_env(placeholder_env(env_name)),
                                     capture_output=True, text=True)  # fmt: skip
                if out.returncode != 0:
                    raise SystemExit(f"{deployment}: definitions failed to load:\n{out.stderr[-4000:]}")
                print(
                    f"{deployment}: installed from the index (hashed lock), definitions load: {out.stdout.strip()}"
                )
                if env_name == "prod":
                    run_tests(
                        python, ROOT / "deployments" / "prod" / "tests", {"DATAPLAT_LOCATION": location}
                    )
            staging_topology(url, pythons["staging"], tmp_path / "venv-staging-host")
        new, versions = independent_versions(tmp_path / "mix")
        core = package_meta("core")[1]
        mixed = [v for v in versions if f"dataplat-reporting {new}" in v and f"dataplat-core {core}" in v]
        if not mixed or len(versions) != 1:
            raise SystemExit(f"staging/analytics did not run the mix of versions: {versions}")
        print(f"staging/analytics with reporting released on its own, every asset records: {versions[0]}")
    return 0


# Run in an installed location's venv: its definitions load, and the platform versions every asset records.
ASSET_VERSIONS_PROBE = """
import json, sys
import dagster as dg
from dataplat_core.definitions import VERSIONS_METADATA_KEY
from dataplat_core.runner import load_definitions
defs = load_definitions(sys.argv[1])
dg.Definitions.validate_loadable(defs)
graph = defs.resolve_asset_graph()
print(json.dumps(sorted({graph.get(k).metadata[VERSIONS_METADATA_KEY] for k in graph.materializable_asset_keys})))
"""


def install_location(deployment: str, venv: Path) -> list[str]:
    """This checkout's packages and the releases its deployments pin, on a throwaway index; `deployment`
    installed from its hashed lock into `venv`; the distinct `dataplat/versions` its assets record."""
    with tempfile.TemporaryDirectory(prefix="dataplat-index-") as tmp, serve(Path(tmp) / "index") as url:
        publish(build_all(Path(tmp) / "dist"), url)
        python = install_deployment(url, deployment, venv)
    env_name, location = deployment.split("/")
    out = subprocess.run(
        [str(python), "-c", ASSET_VERSIONS_PROBE, f"dataplat_{env_name}_{location}.definitions"],
        env=uv_env(placeholder_env(env_name)), capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{deployment}: definitions failed to load:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def independent_versions(work: Path) -> tuple[str, list[str]]:
    """Proof that packages are versioned independently: in a clone of this checkout, reporting is released at its
    next minor version (CHANGELOG entry, bump, record, commit) and promoted to staging while every other package
    stays; the staging analytics location installs that mix from the index and its assets record it."""
    import release

    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    folder = clone / "packages" / "reporting"
    changelog = folder / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            release.UNRELEASED + "\n", release.UNRELEASED + "\n\n- A release of its own.\n", 1
        )
    )
    new = release.bump(folder, "minor")
    release.record(folder, clone)
    git = ["git", "-c", "user.name=release-check", "-c", "user.email=release-check@localhost"]
    subprocess.run([*git, "commit", "--quiet", "-am", f"dataplat-reporting {new}"], cwd=clone, check=True)
    tools = clone / "tools"
    subprocess.run([sys.executable, str(tools / "release.py"), "promote", "reporting", "staging"], cwd=clone,
                   check=True, env=uv_env(), capture_output=True)  # fmt: skip
    problems = subprocess.run([sys.executable, str(tools / "release.py"), "check"], cwd=clone, capture_output=True,
                              text=True)  # fmt: skip
    if problems.returncode != 0:
        raise SystemExit(f"the clone's release check failed:\n{problems.stderr}")
    probe = (
        f"import sys; sys.path.insert(0, {str(tools)!r}); import internal_index, json; "
        f"print(json.dumps(internal_index.install_location('staging/analytics', __import__('pathlib').Path({str(work / 'venv')!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=clone, capture_output=True, text=True, env=uv_env()
    )
    if out.returncode != 0:
        raise SystemExit(f"staging/analytics with {new}:\n{out.stderr[-4000:]}")
    return new, json.loads(out.stdout.strip().splitlines()[-1])


def staging_topology(index_url: str, pythons: dict[str, Path], host_venv: Path) -> None:
    """The staging host (webserver, daemon, instance storage driver) from the index, at the code locations'
    own dagster version, then the staging topology test against the location venvs."""
    locked = locked_hashes(ROOT / "deployments" / "staging" / "ingestion" / LOCK_NAME)
    pins = [f"{name}=={locked[name][0]}" for name in ("dagster", "dagster-postgres") if name in locked]
    host = install_from_index(index_url, [*pins, "dagster-webserver", "dataplat-sandbox", "pytest", "pyyaml"],
                              host_venv)  # fmt: skip
    platform_dists(host)
    locations = ",".join(f"{name}={python}" for name, python in pythons.items())
    run_tests(host, ROOT / "deployments" / "staging" / "tests", {"DATAPLAT_STAGING_PYTHONS": locations})


def run_tests(python: Path, tests: Path, env: dict[str, str]) -> None:
    """The environment's own tests, inside the venv that was installed from the index."""
    subprocess.run([UV, "pip", "install", "--quiet", "--python", str(python), "pytest", "pyyaml"],
                   check=True, env=uv_env())  # fmt: skip
    subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                   check=True, env=uv_env(env), cwd=tests)  # fmt: skip


def lock() -> None:
    """Every released deployment's requirements.lock, through a throwaway index holding what the real one holds."""
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "index") as url:
        files = build_all(Path(tmp) / "dist")
        publish(files, url)
        for deployment in RELEASED_DEPLOYMENTS:
            print(f"wrote {compile_lock(url, deployment, files).relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="run the index until Ctrl-C")
    serve_cmd.add_argument("--port", type=int, default=8765)
    serve_cmd.add_argument("--dir", type=Path, default=ROOT / ".dataplat" / "index")
    publish_cmd = sub.add_parser("publish", help="build every package and upload it")
    publish_cmd.add_argument("--url", required=True)
    sub.add_parser("check", help="publish to a throwaway index and install from it in fresh venvs")
    sub.add_parser("lock", help="refresh the staging and prod deployments' requirements.lock")
    args = parser.parse_args(argv)
    if args.command == "serve":
        with serve(args.dir, args.port) as url:
            print(f"serving {args.dir} at {url} (Ctrl-C to stop)", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
    if args.command == "lock":
        lock()
        return 0
    if args.command == "publish":
        with tempfile.TemporaryDirectory() as tmp:
            publish(build_all(Path(tmp)), args.url)
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
