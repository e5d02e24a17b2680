"""`dg dev` from the repository root serves both local code locations, and a real headless Chromium shows them.

Run by `nox -s ui`. The code locations load with placeholder environment values (loading connects to
nothing); the screenshots land in `test-artifacts/` (git-ignored).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from repo import UV, placeholder_env, uv_env  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"
LOCATIONS = {"ingestion": "deployments/local/ingestion", "analytics": "deployments/local/analytics"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url, json.dumps({"query": query}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def _loaded_locations(url: str) -> set[str]:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    try:
        entries = _graphql(url, query)["workspaceOrError"]["locationEntries"]
    except OSError:
        return set()
    return {e["name"] for e in entries if e["loadStatus"] == "LOADED"}


@pytest.fixture(scope="module")
def dg_dev(tmp_path_factory):
    """`dg dev` on a free port, as a developer starts it from the repository root."""
    for project in LOCATIONS.values():  # dg dev runs each location from its project's own .venv
        subprocess.run([UV, "sync", "--locked", "--quiet", "--project", project], cwd=ROOT, check=True,
                       env=uv_env())  # fmt: skip
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The storage is created before dg dev starts its webserver and daemon, which would race on its schema.
    dg.DagsterInstance.from_config(str(home)).dispose()
    port = _free_port()
    log = open(home / "dg-dev.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
        # dg runs the webserver from the active venv (this one), each code location from its project's .venv.
        cwd=ROOT, env=uv_env({**placeholder_env("local"), "DAGSTER_HOME": str(home), "VIRTUAL_ENV": sys.prefix}),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while _loaded_locations(url + "/graphql") != set(LOCATIONS):
            assert proc.poll() is None, (home / "dg-dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (home / "dg-dev.log").read_text()[-3000:]
            time.sleep(2)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium):
    from dataplat_sandbox.browser import HEADLESS_FLAGS
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for flag in (*HEADLESS_FLAGS, "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(chromium.driver)), options=options)
    yield driver
    driver.quit()


def _wait_for_text(browser, texts: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        body = browser.find_element("tag name", "body").text
        if all(t in body for t in texts):
            return body
        assert time.monotonic() < deadline, f"{texts} not all on the page; it shows:\n{body[:2000]}"
        time.sleep(1)


def test_ui_lists_both_code_locations(dg_dev, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(dg_dev + "/locations")
    _wait_for_text(browser, ["ingestion", "analytics"])
    browser.save_screenshot(str(ARTIFACTS / "dagster-ui-locations.png"))


def test_ui_draws_the_asset_graph_across_locations(dg_dev, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(dg_dev + "/asset-groups")
    # One lineage graph over both locations: ingestion's groups and analytics' groups that read them.
    _wait_for_text(browser, ["Global asset lineage", "raw_shop", "payments_api", "marts", "ml"], timeout=90)
    nodes = browser.find_elements("css selector", "[data-testid^='asset-node'], .asset-node, foreignObject")
    browser.save_screenshot(str(ARTIFACTS / "dagster-ui-asset-graph.png"))
    assert len(nodes) >= 2, "the asset graph rendered no nodes"
