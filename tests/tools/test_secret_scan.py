"""tools/scan_secrets.py runs two scanners (`nox -s lint`): detect-secrets, the well-kept one, and the
platform's own patterns for config shapes detect-secrets does not see. Each case here shows why both run."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import scan_secrets  # noqa: E402

# Real-looking credentials that detect-secrets 1.5's default plugins do not report, in the shapes this
# repository's configuration uses; the platform's patterns report each.
MISSED_BY_DETECT_SECRETS = {
    "resources.yaml": "resources:\n  payments:\n    token: Kx8pQ2vLm9zz\n",
    "defs.yaml": "attributes:\n  api_token: Kx8pQ2vLm9zz\n",
    "resources.py": 'conn = connect(password="Kx8pQ2vLm9")\n',
    "start.sh": "export PAYMENTS_API_TOKEN=Kx8pQ2vLm9abc\n",
}
# Vendor tokens the platform's patterns do not know, which detect-secrets reports.
MISSED_BY_OUR_PATTERNS = {
    "stripe.md": 'stripe_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n',
    "jwt.yaml": "jwt: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n",
}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(MISSED_BY_DETECT_SECRETS))
def test_the_platforms_patterns_catch_what_detect_secrets_misses(tmp_path, name):
    path = _write(tmp_path, name, MISSED_BY_DETECT_SECRETS[name])
    assert scan_secrets.detect_secrets_findings([path], baseline=tmp_path / "none", root=tmp_path) == []
    assert scan_secrets.scan_text(path.read_text(), name) != []


@pytest.mark.parametrize("name", sorted(MISSED_BY_OUR_PATTERNS))
def test_detect_secrets_catches_vendor_tokens_the_platforms_patterns_do_not_know(tmp_path, name):
    path = _write(tmp_path, name, MISSED_BY_OUR_PATTERNS[name])
    assert scan_secrets.scan_text(path.read_text(), name) == []
    assert scan_secrets.detect_secrets_findings([path], baseline=tmp_path / "none", root=tmp_path) != []


def test_an_audited_false_positive_passes_and_a_new_finding_in_the_same_file_fails(tmp_path):
    path = _write(tmp_path, "stripe.md", MISSED_BY_OUR_PATTERNS["stripe.md"])
    found = scan_secrets.detect_secrets_findings([path], baseline=tmp_path / "none", root=tmp_path)
    assert found
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    secrets = SecretsCollection(root=str(tmp_path))
    with default_settings():
        secrets.scan_file("stripe.md")
    audited = secrets.json()
    for items in audited.values():
        for item in items:
            item["is_secret"] = False
    baseline = _write(tmp_path, ".secrets.baseline", json.dumps({"results": audited}))
    path.write_text("\n\n" + path.read_text())  # moved lines: still the audited fixture
    assert scan_secrets.detect_secrets_findings([path], baseline=baseline, root=tmp_path) == []
    path.write_text(path.read_text() + 'other = "sk_live_9xQ27LmPz4RtY8vWcB3nK5hJ"\n')
    assert scan_secrets.detect_secrets_findings([path], baseline=baseline, root=tmp_path) != []


def test_the_repositorys_baseline_holds_only_audited_false_positives():
    results = json.loads(scan_secrets.BASELINE.read_text())["results"]
    assert results and all(item["is_secret"] is False for items in results.values() for item in items)
