"""Settings are declared once in code; meltano.yml and .env.example must mirror `--about`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tap_moment.settings import CONFIG_SCHEMA as TAP_SCHEMA
from tap_moment.tap import TapMoment
from target_fiken.settings import CONFIG_SCHEMA as TARGET_SCHEMA
from target_fiken.target import TargetFiken

ROOT = Path(__file__).resolve().parents[1]


def _sync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sync_settings", ROOT / "scripts/sync_settings.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_settings"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sync() -> ModuleType:
    return _sync_module()


@pytest.fixture(scope="module")
def abouts(sync: ModuleType) -> dict:
    return {plugin: sync.about(plugin) for plugin in sync.PLUGINS}


@pytest.fixture(scope="module")
def meltano() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))


def _plugin(meltano: dict, name: str) -> dict:
    for group in meltano["plugins"].values():
        for plugin in group:
            if plugin["name"] == name:
                return plugin
    raise AssertionError(f"{name} missing from meltano.yml")


@pytest.mark.parametrize("name", ["tap-moment", "target-fiken"])
def test_meltano_settings_match_about(meltano: dict, abouts: dict, name: str) -> None:
    plugin = _plugin(meltano, name)
    about = abouts[name]
    declared = {s["name"]: s for s in plugin["settings"]}
    assert list(declared) == list(about["settings"]["properties"])
    for setting, prop in about["settings"]["properties"].items():
        entry = declared[setting]
        assert bool(entry.get("sensitive")) == bool(prop.get("secret")), setting
        assert entry.get("description") == prop.get("description"), setting
        assert entry.get("value") == prop.get("default"), setting
    assert plugin["capabilities"] == about["capabilities"]


@pytest.mark.parametrize("name", ["tap-moment", "target-fiken"])
def test_every_plugin_is_a_custom_definition(meltano: dict, name: str) -> None:
    plugin = _plugin(meltano, name)
    assert "variant" not in plugin, "Meltano Hub is unreachable: no variant lookups"
    assert plugin["namespace"] == name.replace("-", "_")
    assert plugin["pip_url"] == "-e ."
    assert plugin["executable"] == name


def test_secrets_are_declared_secret(abouts: dict) -> None:
    tap = abouts["tap-moment"]["settings"]["properties"]
    target = abouts["target-fiken"]["settings"]["properties"]
    assert tap["api_key"].get("secret") is True
    for name in ("access_token", "client_secret", "ledger_url"):
        assert target[name].get("secret") is True, name


def test_env_example_lists_every_own_setting(sync: ModuleType, abouts: dict) -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and line[0] != "#"}
    for plugin, info in abouts.items():
        prefix = plugin.upper().replace("-", "_")
        for setting, _prop in sync.own_settings(info, plugin):
            assert f"{prefix}_{setting.upper()}" in names


def test_generated_files_are_up_to_date(sync: ModuleType, capsys: pytest.CaptureFixture) -> None:
    rc = sync.main(["--check"])
    assert rc == 0, capsys.readouterr().out


def test_settings_constants_are_not_mutated_by_the_sdk() -> None:
    """singer-sdk appends built-ins to `config_jsonschema` in place; our constants stay ours."""
    TapMoment._get_about_info()
    TargetFiken._get_about_info()
    assert "stream_maps" not in TAP_SCHEMA["properties"]
    assert "batch_size_rows" not in TARGET_SCHEMA["properties"]
    assert "stream_maps" in TapMoment.config_jsonschema["properties"]
