"""A pip-installed wheel carries the stream schemas and every console script."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hatchling import build as hatchling_build

STREAMS = ("customers", "projects", "invoices", "financial_accounts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo_root)  # hatchling builds the project in the current directory
        name = hatchling_build.build_wheel(str(out))
    return out / name


def test_wheel_ships_the_schemas_the_contract_loader_reads(wheel: Path, repo_root: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for stream in STREAMS:
            member = f"tap_moment/schemas/{stream}.json"
            assert member in names
            assert zf.read(member) == (repo_root / "schemas" / f"{stream}.json").read_bytes()


def test_wheel_declares_all_console_scripts_and_the_state_backend(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (entry_points,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(entry_points).decode()
    scripts = ("tap-moment", "target-fiken", "moment-sandbox", "fiken-sandbox")
    for script in (*scripts, "moment-fiken-webhooks", "moment-fiken-reconcile"):
        assert f"{script} = " in text
    assert "[meltano.state_backends]" in text
    assert "postgresql = moment_fiken_state.postgres:PostgresStateStoreManager" in text


def test_wheel_ships_the_fleet_and_its_dagster_instance_config(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "moment_fiken_fleet/definitions.py" in names
    assert "moment_fiken_fleet/dagster.yaml" in names


def test_wheel_keeps_the_sandboxes_apart_from_the_target(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        target_sources = [
            zf.read(n).decode()
            for n in zf.namelist()
            if n.startswith(("target_fiken/", "moment_fiken_reconcile/"))
        ]
    assert target_sources
    assert not any("fiken_sandbox" in src for src in target_sources)


def test_wheel_ships_the_reconciliation_report_template(wheel: Path, repo_root: Path) -> None:
    member = "moment_fiken_reconcile/templates/report.html.j2"
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read(member) == (repo_root / member).read_bytes()
