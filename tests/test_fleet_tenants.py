"""The tenants file: validation with errors that name tenant and field, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moment_fiken_fleet.runner import (
    TenantConfigError,
    child_environment,
    parse_summary,
    summary_metadata,
    tenant_settings,
)
from moment_fiken_fleet.tenants import SecretRef, TenantsError, load_tenants, parse_tenants
from tests._fleet_fixtures import tenant_entry, tenant_env, write_tenants


def _doc(*entries, **top):
    return {**top, "tenants": list(entries)}


def test_a_valid_file_loads_with_defaults_filled_in(tmp_path):
    path = write_tenants(
        tmp_path / "tenants.yml",
        [tenant_entry("acme"), tenant_entry("bolt", ledger_url="sqlite:///own.db")],
        defaults={"ledger_url": "sqlite:////var/lib/fleet/{tenant}/ledger.db"},
    )
    tenants = load_tenants(path)
    assert [t.id for t in tenants.all()] == ["acme", "bolt"]
    assert tenants.get("acme").ledger_url == "sqlite:////var/lib/fleet/acme/ledger.db"
    assert tenants.get("bolt").ledger_url == "sqlite:///own.db"
    assert tenants.get("nobody") is None
    assert tenants.schedule == "0 * * * *"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (tenant_entry("Acme"), "tenants[0] (id 'Acme').id: must be 1-63"),
        (tenant_entry("acme", fiken_company=""), "tenants[0] (id 'acme').fiken_company"),
        (
            tenant_entry("acme", secrets={"moment_api_key": {"env": "A"}}),
            "tenants[0] (id 'acme').secrets.webhook_secret: Field required",
        ),
        (
            tenant_entry("acme", surprise=1),
            "tenants[0] (id 'acme').surprise: Extra inputs are not permitted",
        ),
        (
            tenant_entry(
                "acme",
                secrets={
                    "moment_api_key": {"env": "A"},
                    "webhook_secret": {"env": "B", "file": "/x"},
                },
            ),
            "secrets.webhook_secret: give exactly one of {env: NAME} or {file: PATH}",
        ),
        (
            tenant_entry(
                "acme", secrets={"moment_api_key": {"env": "A"}, "webhook_secret": {"env": "B"}}
            ),
            "Fiken access needs secrets.fiken_access_token, or fiken_client_id",
        ),
        (
            tenant_entry("acme", fiken_client_id="c", fiken_token_store="/t.json"),
            "either secrets.fiken_access_token or OAuth2, not both",
        ),
    ],
)
def test_invalid_entries_name_the_tenant_and_field(entry, expected):
    with pytest.raises(TenantsError, match="tenants file") as info:
        parse_tenants(_doc(entry))
    assert expected in str(info.value)


def test_oauth_tenant_is_valid():
    entry = tenant_entry(
        "acme",
        fiken_client_id="app",
        fiken_token_store="/var/lib/fleet/acme/tokens.json",
        secrets={
            "moment_api_key": {"env": "A"},
            "webhook_secret": {"env": "B"},
            "fiken_client_secret": {"file": "/run/secrets/fiken-app"},
        },
    )
    assert parse_tenants(_doc(entry)).get("acme").fiken_client_id == "app"


def test_duplicate_ids_and_fiken_companies_are_refused():
    with pytest.raises(TenantsError, match="two tenants have id 'acme'"):
        parse_tenants(_doc(tenant_entry("acme"), tenant_entry("acme")))
    with pytest.raises(TenantsError, match="two tenants have fiken_company 'x'"):
        parse_tenants(
            _doc(tenant_entry("a", fiken_company="x"), tenant_entry("b", fiken_company="x"))
        )


def test_unreadable_or_not_yaml_files(tmp_path):
    with pytest.raises(TenantsError, match="cannot read tenants file"):
        load_tenants(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("tenants:\n  - id: [unclosed\n")
    with pytest.raises(TenantsError, match="not valid YAML at line"):
        load_tenants(bad)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    with pytest.raises(TenantsError, match="must be a mapping"):
        load_tenants(empty)


def _literal_secret_error(secret: str) -> str:
    entry = tenant_entry("acme")
    entry["secrets"] = {**entry["secrets"], "fiken_access_token": secret}
    with pytest.raises(TenantsError) as info:
        parse_tenants(_doc(entry))
    return str(info.value)


@given(secret=st.text(min_size=1, max_size=40))
def test_a_literal_secret_is_refused_and_never_echoed(secret):
    message = _literal_secret_error(secret)
    assert "secrets.fiken_access_token: must be {env: NAME} or {file: PATH}" in message
    # The message does not depend on the value at all, so it cannot carry it.
    assert message == _literal_secret_error("placeholder")


def test_secret_refs_resolve_from_env_and_file(tmp_path):
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    assert SecretRef(file=secret_file).resolve() == "from-file"
    assert SecretRef(env="X_KEY").resolve({"X_KEY": " from-env "}) == "from-env"
    with pytest.raises(TenantsError, match="environment variable X_KEY is not set or empty"):
        SecretRef(env="X_KEY").resolve({})
    with pytest.raises(TenantsError, match="cannot read file"):
        SecretRef(file=tmp_path / "nope").resolve()


# -- the run's environment -------------------------------------------------------------------


def test_tenant_settings_become_meltano_env_vars():
    tenants = parse_tenants(
        _doc(tenant_entry("acme", moment_base_url="http://m", ledger_url="sqlite:///l.db"))
    )
    env = tenant_settings(tenants.get("acme"), tenant_env("acme"))
    assert env == {
        "TAP_MOMENT_COMPANY_CODE": "m-acme",
        "TAP_MOMENT_BASE_URL": "http://m",
        "TAP_MOMENT_API_KEY": "moment-key-acme",
        "TARGET_FIKEN_COMPANY_SLUG": "acme-as",
        "TARGET_FIKEN_LEDGER_URL": "sqlite:///l.db",
        "TARGET_FIKEN_ACCESS_TOKEN": "sandbox-token-acme-as",
    }


def test_a_run_never_sees_another_tenants_secrets_or_stray_plugin_settings():
    tenants = parse_tenants(_doc(tenant_entry("acme"), tenant_entry("bolt")))
    parent = {
        **tenant_env("acme"),
        **tenant_env("bolt"),
        "PATH": "/usr/bin",
        "TARGET_FIKEN_DRY_RUN": "true",
        "TAP_MOMENT_API_KEY": "global-key",
    }
    env = child_environment(tenants, tenants.get("acme"), parent)
    assert env["PATH"] == "/usr/bin"
    assert env["TAP_MOMENT_API_KEY"] == "moment-key-acme"
    assert "TARGET_FIKEN_DRY_RUN" not in env
    values = set(env.values())
    assert not values & set(tenant_env("bolt").values())
    assert not {k for k in env if k.startswith(("ACME_", "BOLT_"))}


def test_a_missing_secret_names_the_tenant_and_reference():
    tenants = parse_tenants(_doc(tenant_entry("acme")))
    with pytest.raises(TenantConfigError, match=r"tenant acme: secrets\.moment_api_key"):
        tenant_settings(tenants.get("acme"), {})


def test_the_targets_summary_is_parsed_from_its_metric_line():
    value = {
        "dry_run": False,
        "streams": {
            "customers": {"created": 2, "updated": 1, "rejected": 0},
            "invoices": {"created": 3, "rejected": 1, "waiting": 2},
        },
        "reject_reasons": {"unknown_account": 1},
        "api_calls": {"total": 17, "by_method": {"GET": 5}, "throttled_429": 2, "retries": 0},
    }
    metric = json.dumps({"type": "summary", "metric": "target_fiken_run", "value": value})
    lines = ["noise", f"2026-12-08 INFO target_fiken METRIC: {metric}", "METRIC: {not json"]
    assert parse_summary(lines) == value
    meta = summary_metadata(value, warnings=3)
    assert meta["created"] == 5
    assert meta["updated"] == 1
    assert meta["rejected"] == 1
    assert meta["waiting"] == 2
    assert meta["api_calls"] == 17
    assert meta["api_calls_429"] == 2
    assert meta["warnings"] == 3
    assert parse_summary(["nothing here"]) is None
    assert summary_metadata(None, 0)["summary_found"] is False


def test_write_tenants_round_trip(tmp_path: Path):
    path = write_tenants(tmp_path / "t.yml", [tenant_entry("acme")])
    assert load_tenants(path).get("acme").secrets.webhook_secret.env == "ACME_HOOK_SECRET"
