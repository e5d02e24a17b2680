"""Fail when a tracked file holds something that looks like a real credential.

    python tools/scan_secrets.py            # run by `nox -s lint`

Two scanners. First Yelp's detect-secrets (its default plugins: vendor tokens, key material, keywords, high
entropy strings) over every tracked file; its findings that are not secrets (test fixtures, placeholders) are
audited into `.secrets.baseline` (`is_secret: false`), and any other finding fails. Then this module's own
patterns, kept for what detect-secrets does not see in this repository's config shapes (shown by
tests/tools/test_secret_scan.py): a `token:` or `*_token:` key in YAML (a component's attributes, a resource), a
`password="..."` keyword argument, an `export *_TOKEN=` line.

Secrets reach the platform only through environment variables (`dg.EnvVar`); the repository must never hold
one. The patterns find key material and vendor tokens by their shape, and `password`/`token`/`secret`
assignments with a literal value in configuration and code. Test fixtures, placeholders and
references are allowed by their shape (ALLOWED_VALUES); keys that name a secret rather than hold one
(`env_secrets`, `*_secret_name`) are not assignments of a secret. Under `tests/` literal passwords are
fixtures for the sandbox's throwaway servers, so there only the shapes of real key material count.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".secrets.baseline"
HASHES = re.compile(r"^(bench/results/.*\.json|releases\.toml|\.secrets\.baseline)$")

# Shapes of real key material and vendor tokens.
TOKEN_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "URL with a password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"{}]+:[^/\s:@'\"{}$]{6,}@"),
}
# `password: hunter2`, `SNOWFLAKE_PASSWORD=...`, `token = "..."` with a literal value.
ASSIGNMENT = re.compile(
    r"""(?ix)\b([a-z0-9_]*(?:password|passwd|secret|token|api_key|apikey)[a-z0-9_]*)\s*[:=]\s*
        (?P<quote>["']?)(?P<value>[^"'\s,#)}]{4,})(?P=quote)"""
)
# Values that are not secrets: placeholders, references to where the secret comes from, test fixtures.
ALLOWED_VALUES = re.compile(
    r"""(?ix)^(placeholder[\w-]*|change[_-]?me|unused|redacted|x+|\*+|none|null|true|false|\{env:?|
        env(var)?\b.*|os\.environ.*|dg\.envvar.*|\{\{.*|\$\{?.*|<.*>|
        self\.[\w.]+|settings\.[\w.()"']+|pg\.[\w.]+|api\.[\w.]+|source\[.*|values\[.*|
        [a-z_][a-z0-9_.]*\(.*|[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+|
        (?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+))$"""  # an env var's NAME (e.g. SOURCE_PG_PASSWORD), not a value
)
# Keys that name a secret object or a setting about secrets, not a secret value.
NAMING_KEYS = re.compile(r"(?i)(_secrets?|secret_name|_name|_encryption|_env|_file|_path|_url_env)$")
SCANNED_SUFFIXES = {
    ".py",
    ".toml",
    ".yaml",
    ".yml",
    ".cfg",
    ".ini",
    ".env",
    ".json",
    ".sh",
    ".md",
    ".txt",
    "",
}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def scan_text(text: str, name: str, in_tests: bool = False) -> list[str]:
    """Findings in one file. In Python a literal is quoted (`token=token` passes a variable); in config files
    any value is literal; prose (Markdown) and tests are checked for key shapes only."""
    python, prose = name.endswith(".py"), name.endswith(".md")
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in TOKEN_PATTERNS.items():
            if pattern.search(line):
                found.append(f"{name}:{number}: {kind}")
        for match in [] if in_tests or prose else ASSIGNMENT.finditer(line):
            key, value = match.group(1), match.group("value")
            if python and not match.group("quote"):
                continue
            if not NAMING_KEYS.search(key) and not ALLOWED_VALUES.match(value):
                found.append(f"{name}:{number}: literal {key}")
    return found


def findings(path: Path) -> list[str]:
    if path.suffix not in SCANNED_SUFFIXES or path.name.endswith(".lock") or not path.is_file():
        return []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return []
    relative = path.relative_to(ROOT)
    return scan_text(text, str(relative), in_tests="tests" in relative.parts)


# The scanner checks itself first: a scanner that finds nothing because it is broken would pass silently.
MUST_FIND = [
    ("config.yaml", "password: hunter2hunter2"),
    ("app.env", "SNOWFLAKE_PASSWORD=S3cr3t-Value"),
    ("settings.toml", 'api_key = "abcd1234efgh"'),
    ("code.py", 'connect(password="hunter2hunter2")'),
    ("code.py", "aws = 'AKIAABCDEFGHIJKLMNOP'"),
    ("notes.md", "-----BEGIN RSA PRIVATE KEY-----"),
    ("config.yaml", "dsn: postgresql://replicator:s3cr3tpw@db.internal/shop"),
]
MUST_PASS = [
    ("dagster.yaml", "password: {env: DAGSTER_PG_PASSWORD}"),
    ("code.py", 'token=dg.EnvVar("PAYMENTS_API_TOKEN")'),
    ("placeholder.env", "SNOWFLAKE_PASSWORD=placeholder"),
    ("dagster.yaml", "env_secrets: [dataplat-prod-env]"),
    ("code.py", "connect(dsn, password=password)"),
    ("docs.md", "| `SOURCE_PG_PASSWORD` | required | secret: password |"),
]


# Where people put secrets: each must be ignored by git (`git check-ignore`), so `git add -A` cannot commit it.
MUST_BE_IGNORED = [
    ".env",
    ".env.prod",
    "deployments/local/ingestion/.env",
    "deployments/prod/analytics/.env.local",
    ".dataplat/sandbox/sandbox.env",
]


def not_ignored() -> list[str]:
    return [
        path
        for path in MUST_BE_IGNORED
        if subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode != 0
    ]


def detect_secrets_findings(paths: list[Path], baseline: Path = BASELINE, root: Path = ROOT) -> list[str]:
    """detect-secrets' findings in `paths` (under `root`) that the audited baseline does not hold as false
    positives. Matched by file and secret hash, not line: moving a fixture does not fail the scan."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    audited = json.loads(baseline.read_text())["results"] if baseline.exists() else {}
    known = {(name, item["hashed_secret"]) for name, items in audited.items() for item in items
             if item.get("is_secret") is False}  # fmt: skip
    secrets = SecretsCollection(root=str(root))
    with default_settings():
        for path in paths:
            secrets.scan_file(str(path.relative_to(root)))
    return [
        f"{name}:{secret.line_number}: {secret.type} (detect-secrets)"
        for name, secret in secrets
        if (name, secret.secret_hash) not in known
    ]


def main() -> int:
    unguarded = not_ignored()
    if unguarded:
        print(
            f"scan_secrets: not ignored by git, a secret there could be committed: {unguarded}",
            file=sys.stderr,
        )
        return 1
    missed = [line for name, line in MUST_FIND if not scan_text(line, name)]
    noisy = [line for name, line in MUST_PASS if scan_text(line, name)]
    if missed or noisy:
        print(f"scan_secrets: self-test failed: missed {missed}, flagged {noisy}", file=sys.stderr)
        return 2
    # This file holds the self-test's fake credentials on purpose; every other tracked file is scanned.
    scanned = [path for path in tracked_files() if path != Path(__file__).resolve() and path.is_file()]
    # Files of hashes by design, which detect-secrets takes for keys: the benchmarks' results (the commit they
    # measured), the release record (each release's contents hash) and the baseline (the audited findings').
    entropy_free = [path for path in scanned if not HASHES.match(path.relative_to(ROOT).as_posix())]
    problems = detect_secrets_findings(entropy_free) + [
        finding for path in scanned for finding in findings(path)
    ]
    for line in problems:
        print(f"scan_secrets: {line}", file=sys.stderr)
    print(f"scan_secrets: {len(problems)} possible credential(s) in tracked files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
