"""Console entry point: `target-fiken` (the Singer target) and `target-fiken authorize`."""

from __future__ import annotations

import sys

# Options of the target that take a value, so that a value is never mistaken for a subcommand.
_VALUE_OPTIONS = {"--config", "--input", "--format", "--state"}


def _subcommand_index(args: list[str]) -> int | None:
    """Index of a positional `authorize` (wherever Meltano put `--config FILE`), or None."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if arg == "authorize":
            return i
        if not arg.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> None:
    """Dispatch `authorize` to the OAuth2 helper; everything else is the Singer target.

    `meltano invoke target-fiken authorize` runs `target-fiken --config <tmp> authorize`, so the
    subcommand is recognised after options too.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    index = _subcommand_index(args)
    if index is not None:
        from target_fiken.authorize import main as authorize_main  # noqa: PLC0415

        raise SystemExit(authorize_main(args[:index] + args[index + 1 :]))
    from target_fiken.target import TargetFiken  # noqa: PLC0415

    TargetFiken.cli(args=args)
