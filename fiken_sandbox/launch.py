"""Console script `fiken-sandbox`: serve, or say which extra to install (see moment_sandbox)."""

from __future__ import annotations

from moment_sandbox.launch import launch


def main() -> int:
    """`fiken-sandbox`."""
    return launch("fiken-sandbox", "fiken_sandbox.__main__")
