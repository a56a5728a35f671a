"""A pip-installed wheel carries the stream schemas and every console script, and stays lean."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hatchling import build as hatchling_build
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


# What `pip install moment-fiken` pulls in production: the tap's and target's own needs, never
# the sandboxes' web server stack (that is the `sandbox` extra).
RUNTIME = {
    "singer-sdk",
    "requests",
    "authlib",
    "jsonschema",
    "msgspec",
    "platformdirs",
    "sqlalchemy",
    "jinja2",
}


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(metadata).decode()
    return [
        Requirement(line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def _names(requirements: list[Requirement], extra: str | None) -> set[str]:
    env = {"extra": extra or ""}
    return {
        canonicalize_name(r.name)
        for r in requirements
        if (r.marker is None) == (extra is None) and (r.marker is None or r.marker.evaluate(env))
    }


def test_runtime_dependencies_are_lean(wheel: Path) -> None:
    requirements = _requirements(wheel)
    assert _names(requirements, None) == RUNTIME
    assert _names(requirements, "sandbox") == {"werkzeug"}
    # The commands that run the sandboxes (tests, `bash scripts/test.sh`, the demo) install it
    # (hatchling writes a self-referencing extra out in full).
    for extra in ("test", "dev"):
        assert _names(requirements, "sandbox") <= _names(requirements, extra), extra


def test_installed_metadata_matches_pyproject() -> None:
    # The editable install this suite runs in was made from the same pyproject.toml.
    requirements = [Requirement(r) for r in importlib.metadata.requires("moment-fiken") or []]
    assert _names(requirements, None) == RUNTIME


def _python(code: str, repo_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "script"), [("moment_sandbox", "moment-sandbox"), ("fiken_sandbox", "fiken-sandbox")]
)
def test_sandbox_scripts_name_the_missing_extra(module: str, script: str, repo_root: Path) -> None:
    # werkzeug made unimportable, as in a lean install: one clear line and exit code 2.
    done = _python(
        "import sys; sys.modules['werkzeug'] = None; "
        f"from {module}.launch import main; sys.exit(main())",
        repo_root,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{script} needs the optional sandbox dependencies (werkzeug); install them with: "
        "pip install 'moment-fiken[sandbox]'"
    )
    assert "Traceback" not in done.stderr


def test_sandbox_scripts_serve_when_the_extra_is_there(repo_root: Path) -> None:
    done = _python(
        "import sys; from fiken_sandbox.launch import main; sys.argv[1:] = ['--help']; main()",
        repo_root,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: fiken-sandbox" in done.stdout


def test_tap_and_target_import_without_the_sandbox_extra(repo_root: Path) -> None:
    done = _python(
        "import sys; sys.modules['werkzeug'] = None; "
        "import tap_moment.tap, target_fiken.target, target_fiken.cli, moment_sandbox",
        repo_root,
    )
    assert done.returncode == 0, done.stderr
