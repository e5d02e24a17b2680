"""Headless Chromium for browser tests (the report, the Dagster UI), installed from Debian's packages by the
test setup when missing: the `chromium` fixture of this package's pytest plugin.

The install needs root and the Debian mirror; anywhere else a browser test skips and says why.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Flags that keep Chromium from reaching the network or needing a display, a GPU or a user namespace.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
PACKAGES = ("chromium", "chromium-driver")
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Chromium:
    browser: Path
    driver: Path


def find_chromium() -> Chromium | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return Chromium(Path(browser), Path(driver)) if browser and driver else None


def install_chromium() -> tuple[Chromium | None, str]:
    """Install the Debian packages (root only). Returns the browser, or None and the reason it is missing."""
    if os.geteuid() != 0:
        return (
            None,
            "chromium/chromedriver are not installed and the tests do not run as root to install them",
        )
    if not shutil.which("apt-get"):
        return None, "chromium/chromedriver are not installed and there is no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(command)}` failed: {' | '.join(tail)}"
    found = find_chromium()
    return found, "" if found else "apt-get installed chromium but chromium/chromedriver are not on PATH"
