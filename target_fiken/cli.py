"""Console entry point: `target-fiken` (the Singer target) and `target-fiken authorize`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Dispatch `authorize` to the OAuth2 helper; everything else is the Singer target."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["authorize"]:
        from target_fiken.authorize import main as authorize_main  # noqa: PLC0415

        raise SystemExit(authorize_main(args[1:]))
    from target_fiken.target import TargetFiken  # noqa: PLC0415

    TargetFiken.cli(args=args)
