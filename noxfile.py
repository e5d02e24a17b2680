"""One session per package and per deployment, each in its own venv holding only that package, what it
declares and its test tools (installed from the package's own uv.lock).

    uv run --locked nox          # the `suite` session: every session tagged `tests`, in two parallel lanes
    uv run --locked nox -l       # list the sessions
    uv run --locked nox -s "tests(core)"
    uv run --locked nox -t tests # every test session one after the other (no lanes)
    uv run --locked nox -s affected -- origin/main   # only the sessions a change since that ref touches
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import nox

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools import leftovers, workspace  # noqa: E402
from tools.repo import ROOT, UV, allow_bytecode_cache, placeholder_env  # noqa: E402

os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # uv cannot fetch interpreters here: use 3.11
allow_bytecode_cache()  # test subprocesses import dagster once compiled, not from source every time

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
nox.options.sessions = ["suite"]  # what `nox` alone runs: every test session, see `suite`

# Found from the projects' pyproject.toml files (tools/workspace.py), not listed here.
PROJECTS = workspace.projects()
PACKAGES = workspace.packages(PROJECTS)  # tests(<folder>)
DEPLOYMENTS = workspace.local_deployments(PROJECTS)  # deployment(local-<location>)
PYTHON = "3.11"


def _sync(session: nox.Session, project: str, *options: str) -> None:
    """Install exactly the project's lock (the project, its dependencies, its dev group) into this venv."""
    session.run_install(
        UV,
        "sync",
        "--locked",
        "--project",
        str(ROOT / project),
        *options,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _prepare(session: nox.Session, project: str) -> None:
    """The project's own venv, its imports checked against its declarations, cwd in the project."""
    _sync(session, project)
    session.run("python", str(ROOT / "tools" / "check_imports.py"), str(ROOT / project))
    session.chdir(ROOT / project)


@nox.session(python=PYTHON, tags=["tests"])
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    _prepare(session, PACKAGES[package])
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(name="deployment", python=PYTHON, tags=["tests"])
@nox.parametrize("deployment", list(DEPLOYMENTS), ids=list(DEPLOYMENTS))
def deployment(session: nox.Session, deployment: str) -> None:
    """Validate the code location's definitions with `dg check defs`, then run its tests."""
    _prepare(session, DEPLOYMENTS[deployment])
    session.run("dg", "check", "defs", env=placeholder_env("local"))
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON, tags=["tests"])
def lint(session: nox.Session) -> None:
    _sync(session, ".")  # the ruff version pinned in the root uv.lock
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", str(ROOT / "tools" / "scan_secrets.py"))  # no credential in any tracked file
    # a released package's files changed without a version bump and a CHANGELOG heading
    session.run("python", str(ROOT / "tools" / "release.py"), "check")


@nox.session(python=PYTHON, tags=["tests"])
def release(session: nox.Session) -> None:
    """Build every package, publish it to a throwaway pypiserver on 127.0.0.1, install each from there."""
    _sync(session, ".")
    session.run("python", str(ROOT / "tools" / "internal_index.py"), "check")


@nox.session(python=PYTHON, default=False)
def publish(session: nox.Session) -> None:
    """Build every package and upload the files the index lacks (a re-run is a no-op):
    `nox -s publish -- http://127.0.0.1:8765/` (see docs/release.md)."""
    if not session.posargs:
        session.error("give the index's upload URL: nox -s publish -- URL")
    _sync(session, ".")
    session.run("python", str(ROOT / "tools" / "internal_index.py"), "publish", "--url", session.posargs[0])


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (issue #9), not a test: `nox -s bench` (1M and 5M rows, 3 runs, the test suite; long) or
    `nox -s bench -- --sizes 100000 --repeat 1 --only files api`; writes bench/results/, docs/benchmarks.md."""
    # bench/run.py is standard library only; each part runs in its own package's venv through uv.
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)


@nox.session(python=PYTHON, tags=["tests"])
def demo(session: nox.Session) -> None:
    """The README's demo, end to end and twice (the second run reuses the state), on a smaller sandbox; then
    `--ui` on that state: the daemon starts no run for what the demo loaded, and Ctrl-C stops everything."""
    _sync(session, ".", "--group", "ui-test")
    state = Path(session.create_tmp()).resolve() / "demo"
    # Both runs with HOME at an empty folder, which tests/demo asserts is still empty: nothing the platform
    # runs writes outside its state folder. uv's package cache is the installer's, not the platform's: it stays
    # where it was (and nothing is downloaded again).
    home = Path(session.create_tmp()).resolve() / "empty-home"
    home.mkdir(exist_ok=True)
    uv_cache = subprocess.run([UV, "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()
    for flags in (["--reset"], []):
        session.run("python", str(ROOT / "scripts" / "demo.py"), "--state-dir", str(state),
                    "--orders", "5000", "--days", "30", *flags,
                    env={"HOME": str(home), "UV_CACHE_DIR": uv_cache})  # fmt: skip
    session.run("pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "demo"),
                env={"DATAPLAT_DEMO_STATE": str(state), "DATAPLAT_DEMO_HOME": str(home)})  # fmt: skip


@nox.session(python=PYTHON, tags=["tests"])
def tools(session: nox.Session) -> None:
    """The repository's own tooling (tests/tools): project discovery and changed-package selection."""
    _sync(session, ".", "--group", "ui-test")
    session.run("pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "tools"), *session.posargs)


@nox.session(python=False)
def affected(session: nox.Session) -> None:
    """The test sessions of the projects changed since a git ref and of every project that depends on them
    (from the pyproject dependency graph; a change outside every project runs everything):
    `nox -s affected -- <base-ref>`."""
    if len(session.posargs) != 1:
        session.error("give the base: nox -s affected -- origin/main")
    selected = workspace.affected(workspace.changed_files(session.posargs[0]), PROJECTS)
    names = workspace.sessions_for(selected, PROJECTS)
    session.log("projects: " + ("all" if selected is None else ", ".join(sorted(selected)) or "none"))
    session.log("sessions: " + " ".join(names))
    for name in names:
        session.notify(name)


@nox.session(python=PYTHON, tags=["tests"])
def ui(session: nox.Session) -> None:
    """`dg dev` serves both local code locations; headless Chromium finds them and the asset graph."""
    _sync(session, ".", "--group", "ui-test")
    session.run("pytest", "-q", str(ROOT / "tests" / "ui"), *session.posargs)


# The test sessions spend most of their time waiting (servers starting, sensors ticking, processes killed and
# re-run): one after the other they use a third of 2 cores. Two lanes run side by side, balanced by measured
# duration (a fresh clone on 2026-11-27: release 3 min + snowflake_ingestion 5 min; the rest about 7 min).
# Sessions that install Debian's Chromium with apt (reporting's browser test, ui) share a lane, as apt allows
# one installer at a time.
LANES = (
    ["release", "tests(snowflake_ingestion)", "lint", "tools"],
    ["tests(api_sources)", "tests(reporting)", "ui", "demo", "tests(ml_training)", "tests(core)", "tests(sandbox)",
     "deployment(local-ingestion)", "deployment(local-analytics)"],
)  # fmt: skip


@nox.session(python=False)
def suite(session: nox.Session) -> None:
    """Every session tagged `tests`, in the two LANES at once; each line of output is prefixed by its lane."""
    registered = {name for name, func in nox.registry.get().items() if "tests" in getattr(func, "tags", [])}
    parametrized = {f"tests({p})" for p in PACKAGES} | {f"deployment({d})" for d in DEPLOYMENTS}
    tagged = parametrized | (registered - {"tests", "deployment"})
    planned = [name for lane in LANES for name in lane]
    if sorted(planned) != sorted(tagged):
        session.error(
            f"LANES must hold each test session once: planned {sorted(planned)}, tagged {sorted(tagged)}"
        )
    # Every process the lanes start carries this token: the ones still alive afterwards were left behind.
    token = leftovers.new_token()
    lanes = [
        subprocess.Popen(
            [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", *lane],
            cwd=ROOT,
            env={**os.environ, leftovers.VARIABLE: token},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for lane in LANES
    ]

    outputs: list[list[str]] = [[] for _ in lanes]

    def relay(number: int, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            outputs[number - 1].append(line)
            print(f"[lane {number}] {line}", end="", flush=True)

    relays = [threading.Thread(target=relay, args=(i + 1, p)) for i, p in enumerate(lanes)]
    for thread in relays:
        thread.start()
    for thread in relays:
        thread.join()
    failed = [i + 1 for i, proc in enumerate(lanes) if proc.wait() != 0]
    left = leftovers.settle_and_kill(token)
    if left:
        print("==== processes the tests started and did not stop (now killed) ====", flush=True)
        print("\n".join(str(p) for p in left), flush=True)
    if failed:
        # CI keeps only the tail of the output, and a failure early in a lane scrolls out of it: repeat why
        # each failed session failed at the very end.
        for number in failed:
            print(failure_digest(outputs[number - 1], number), flush=True)
        session.error(f"lane(s) {failed} failed: the digest above, the full output above it")
    if left:
        session.error(f"{len(left)} process(es) outlived the tests that started them: listed above")


FAILED_SESSION = re.compile(r"nox > Session (?P<name>.+?) (?:failed|raised exception)")


def failure_digest(lines: list[str], lane: int, context: int = 25) -> str:
    """For each session of one lane's output that failed: pytest's error lines (`E   ...`), its short test
    summary and the last lines before nox reported the failure."""
    digest, start, seen = [], 0, set()
    for index, line in enumerate(lines):
        if "nox > Running session " in line:
            start = index
        match = FAILED_SESSION.search(line)
        if not match:
            continue
        name = match.group("name")
        if name in seen:
            continue
        seen.add(name)
        body = lines[start:index]
        errors = [x for x in body if x.startswith("E ")][:40]
        summary_at = next((i for i, x in enumerate(body) if "short test summary info" in x), None)
        summary = body[summary_at : summary_at + 30] if summary_at is not None else []
        digest += [f"==== [lane {lane}] {name} failed ====\n"]
        digest += ["-- error lines --\n", *errors] if errors else []
        digest += ["-- pytest summary --\n", *summary] if summary else []
        digest += ["-- last lines --\n", *body[-context:]]
    return "".join(digest) or f"==== [lane {lane}] failed; no nox session failure line found ====\n"
