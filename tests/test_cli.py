"""`target-fiken` dispatches `authorize` wherever the runner puts its options."""

from __future__ import annotations

import pytest

from target_fiken import cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["authorize", "--config", "t.json"], ["--config", "t.json"]),
        (["--config", ".meltano/run/t.json", "authorize"], ["--config", ".meltano/run/t.json"]),
        (
            ["--config", "a.json", "authorize", "--no-browser"],
            ["--config", "a.json", "--no-browser"],
        ),
    ],
)
def test_authorize_is_dispatched(monkeypatch: pytest.MonkeyPatch, argv, expected) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("target_fiken.authorize.main", lambda a: seen.append(a) or 0)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    assert seen == [expected]


@pytest.mark.parametrize(
    "argv", [["--config", "authorize"], ["--about"], ["--input", "authorize", "--config", "c.json"]]
)
def test_other_arguments_go_to_the_target(argv: list[str]) -> None:
    assert cli._subcommand_index(argv) is None
