"""Fixtures shared by the reporting tests: the browser, and where test artifacts go."""

from pathlib import Path

import pytest
from browser import find_chromium, install_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium and its chromedriver, installed by `apt-get` when missing and root."""
    found = find_chromium()
    if found is None:
        found, reason = install_chromium()
        if found is None:
            pytest.skip(f"browser test needs Chromium: {reason}")
    return found


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and other files a human looks at after the run (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
