"""``python -m moment_fiken_reconcile``: the same as the ``moment-fiken-reconcile`` command."""

from moment_fiken_reconcile.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
