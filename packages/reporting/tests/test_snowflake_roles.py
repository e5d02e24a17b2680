"""deployments/prod/snowflake_roles.sql (docs/security.md) parses as Snowflake SQL and grants least privilege:
no OWNERSHIP or ALL, nothing but USAGE on the database and warehouse, the loader writes only the raw schemas and
the analytics role reads them and writes only its own."""

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

ROLES_SQL = Path(__file__).resolve().parents[3] / "deployments" / "prod" / "snowflake_roles.sql"
RAW = {"DATAPLAT.RAW_SHOP", "DATAPLAT.RAW_FILES", "DATAPLAT.PAYMENTS_API"}
ANALYTICS_OWN = {"DATAPLAT.MARTS", "DATAPLAT.ML"}
READ = {"USAGE", "SELECT"}
GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON (?:(?P<scope>FUTURE|ALL) TABLES IN SCHEMA|(?P<kind>WAREHOUSE|DATABASE|SCHEMA)) "
    r"(?P<object>\S+) TO (?P<grantee_kind>ROLE|USER) (?P<grantee>\S+)$"
)


def _statements() -> list[exp.Expression]:
    return sqlglot.parse(ROLES_SQL.read_text(), read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


def _grants() -> list[dict]:
    """Every privilege grant as a dict (role grants `GRANT ROLE x TO USER y` are returned with kind ROLE)."""
    grants = []
    for statement in _statements():
        text = " ".join(statement.sql(dialect="snowflake", comments=False).split())
        if not text.upper().startswith("GRANT "):
            continue
        if text.upper().startswith("GRANT ROLE "):
            grants.append({"kind": "ROLE", "text": text})
            continue
        match = GRANT.match(text)
        assert match, f"a GRANT this test does not understand: {text}"
        grant = match.groupdict()
        grant["privileges"] = {p.strip().upper() for p in grant["privileges"].split(",")}
        grant["text"] = text
        grants.append(grant)
    return grants


def test_the_file_parses_as_snowflake_sql_and_holds_only_roles_schemas_users_and_grants():
    statements = _statements()
    assert len(statements) > 20
    for statement in statements:
        text = statement.sql(dialect="snowflake", comments=False).upper()
        assert re.match(r"^(CREATE (ROLE|SCHEMA|USER) IF NOT EXISTS|GRANT )", text), text


def test_no_ownership_all_or_account_wide_privilege_is_granted():
    text = ROLES_SQL.read_text().upper()
    code = "\n".join(line.split("--")[0] for line in text.splitlines())
    assert "OWNERSHIP" not in code and "ALL PRIVILEGES" not in code and "MANAGE GRANTS" not in code
    assert "ON ACCOUNT" not in code and "TO ROLE PUBLIC" not in code and "WITH GRANT OPTION" not in code
    for grant in _grants():
        if grant["kind"] == "ROLE":
            continue
        assert "ALL" not in grant["privileges"], grant["text"]


@pytest.mark.parametrize("kind", ["DATABASE", "WAREHOUSE"])
def test_database_and_warehouse_get_usage_only(kind):
    on_kind = [g for g in _grants() if g.get("kind") == kind]
    assert on_kind and all(g["privileges"] == {"USAGE"} for g in on_kind)


def test_the_loader_writes_only_the_raw_schemas():
    loader = [g for g in _grants() if g.get("grantee") == "DATAPLAT_LOADER"]
    schemas = {g["object"] for g in loader if g["kind"] == "SCHEMA" or g["scope"]}
    assert schemas == RAW  # nothing on MARTS or ML
    assert {g["object"] for g in loader if g["scope"] == "FUTURE"} == RAW


def test_the_analytics_role_reads_raw_and_writes_only_its_schemas():
    analytics = [g for g in _grants() if g.get("grantee") == "DATAPLAT_ANALYTICS" and g.get("kind") != "ROLE"]
    on_raw = [g for g in analytics if g["object"] in RAW]
    assert on_raw and all(g["privileges"] <= READ for g in on_raw)
    assert {g["object"] for g in on_raw} == RAW
    writes = {g["object"] for g in analytics if g["privileges"] - READ}
    assert writes == ANALYTICS_OWN


def test_each_service_user_gets_exactly_one_role():
    role_grants = [g["text"].upper() for g in _grants() if g["kind"] == "ROLE"]
    assert sorted(role_grants) == [
        "GRANT ROLE DATAPLAT_ANALYTICS TO USER DATAPLAT_ANALYTICS",
        "GRANT ROLE DATAPLAT_LOADER TO USER DATAPLAT_INGESTION",
    ]
