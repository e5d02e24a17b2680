"""The internal package index: build every platform package and publish it to a real index server.

    uv run --locked python tools/internal_index.py serve [--port 8765] [--dir .dataplat/index]
    uv run --locked python tools/internal_index.py publish --url http://127.0.0.1:8765/
    uv run --locked python tools/internal_index.py check        # what `nox -s release` runs

`check` proves the release path end to end: it starts pypiserver on a free 127.0.0.1 port, builds each
package with `uv build` and uploads it with `uv publish`, then installs each package into a fresh venv from
that index at its pinned version (third-party dependencies still come from the public registry) and
imports it there. Deployments for staging and prod install the same way.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
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
PUBLIC_INDEX = "https://pypi.org/simple"


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
def serve(directory: Path, port: int | None = None):
    """A pypiserver on 127.0.0.1 that accepts uploads without authentication (loopback only)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
         "--disable-fallback", str(directory)],
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
    out.mkdir(parents=True, exist_ok=True)
    for folder in PACKAGES:
        subprocess.run([UV, "build", "--quiet", "--out-dir", str(out), str(ROOT / "packages" / folder)],
                       check=True, env=uv_env())  # fmt: skip
    return sorted(out.glob("*"))


def publish(files: list[Path], url: str) -> None:
    subprocess.run(
        [UV, "publish", "--publish-url", url, "--username", "ci", "--password", "unused", *map(str, files)],
        check=True, env=uv_env(), capture_output=True,
    )  # fmt: skip


def install_from_index(index_url: str, requirements: list[str], venv: Path) -> Path:
    """A fresh venv with `requirements` installed: platform packages from the internal index only."""
    subprocess.run([UV, "venv", "--quiet", "-p", "3.11", str(venv)], check=True, env=uv_env())
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         # The internal index comes first and wins for the names it holds ("first-index" is uv's default):
         # a same-named package on the public registry can never replace ours.
         "--index-url", index_url + "simple/", "--extra-index-url", PUBLIC_INDEX, *requirements],
        check=True, env=uv_env(),
    )  # fmt: skip
    return venv / "bin" / "python"


def compile_lock(index_url: str, deployment: str) -> Path:
    """deployments/<env>/<location>/requirements.lock: every pin, platform packages from the index."""
    project = ROOT / "deployments" / deployment
    lock = project / "requirements.lock"
    subprocess.run(
        [UV, "pip", "compile", "--quiet", str(project / "pyproject.toml"), "-o", str(lock),
         "--python-version", "3.11", "--index-url", index_url + "simple/", "--extra-index-url", PUBLIC_INDEX,
         "--no-emit-index-url", "--custom-compile-command", "python tools/internal_index.py lock"],
        check=True, env=uv_env(),
    )  # fmt: skip
    return lock


def install_deployment(index_url: str, deployment: str, venv: Path) -> Path:
    """A fresh venv as the environment's image builds it: the lock from the index, then the deployment itself
    from its folder (a dg project loads its `defs/` relative to its pyproject.toml, so the image keeps the
    folder and installs it in place)."""
    python = install_from_index(index_url, ["-r", str(ROOT / "deployments" / deployment / "requirements.lock")],
                                venv)  # fmt: skip
    subprocess.run([UV, "pip", "install", "--quiet", "--no-deps", "--python", str(python),
                    "-e", str(ROOT / "deployments" / deployment)], check=True, env=uv_env())  # fmt: skip
    return python


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="dataplat-index-") as tmp:
        tmp_path = Path(tmp)
        with serve(tmp_path / "index") as url:
            files = build_all(tmp_path / "dist")
            publish(files, url)
            print(f"published {len(files)} files to {url}")
            for folder in PACKAGES:
                dist, version, module = package_meta(folder)
                python = install_from_index(url, [f"{dist}=={version}"], tmp_path / f"venv-{folder}")
                probe = (
                    f"import importlib.metadata as m, sys; import {module}; "
                    f"d = m.distribution({dist!r}); "
                    "assert str(d.locate_file('')).startswith(sys.prefix), d.locate_file(''); "
                    f"print({dist!r}, d.version)"
                )
                out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
                print(f"installed from the index in a fresh venv: {out.stdout.strip()}")
            pythons: dict[str, dict[str, Path]] = {}
            for deployment in RELEASED_DEPLOYMENTS:
                env_name, location = deployment.split("/")
                python = install_deployment(url, deployment, tmp_path / f"venv-{env_name}-{location}")
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
                print(f"{deployment}: installed from the index, definitions load: {out.stdout.strip()}")
                if env_name == "prod":
                    run_tests(
                        python, ROOT / "deployments" / "prod" / "tests", {"DATAPLAT_LOCATION": location}
                    )
            staging_topology(url, pythons["staging"], tmp_path / "venv-staging-host")
    return 0


def staging_topology(index_url: str, pythons: dict[str, Path], host_venv: Path) -> None:
    """The staging host (webserver, daemon, instance storage driver) from the index, at the code locations'
    own dagster version, then the staging topology test against the location venvs."""
    lock = (ROOT / "deployments" / "staging" / "ingestion" / "requirements.lock").read_text().splitlines()
    pins = [
        line for line in lock if line.startswith(("dagster==", "dagster-postgres==", "dagster-graphql=="))
    ]
    host = install_from_index(index_url, [*pins, "dagster-webserver", "dataplat-sandbox", "pytest", "pyyaml"],
                              host_venv)  # fmt: skip
    locations = ",".join(f"{name}={python}" for name, python in pythons.items())
    run_tests(host, ROOT / "deployments" / "staging" / "tests", {"DATAPLAT_STAGING_PYTHONS": locations})


def run_tests(python: Path, tests: Path, env: dict[str, str]) -> None:
    """The environment's own tests, inside the venv that was installed from the index."""
    subprocess.run([UV, "pip", "install", "--quiet", "--python", str(python), "pytest", "pyyaml"],
                   check=True, env=uv_env())  # fmt: skip
    subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                   check=True, env=uv_env(env), cwd=tests)  # fmt: skip


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
        with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "index") as url:
            publish(build_all(Path(tmp) / "dist"), url)
            for deployment in RELEASED_DEPLOYMENTS:
                print(f"wrote {compile_lock(url, deployment).relative_to(ROOT)}")
        return 0
    if args.command == "publish":
        with tempfile.TemporaryDirectory() as tmp:
            publish(build_all(Path(tmp)), args.url)
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
