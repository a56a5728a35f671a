"""moment-fiken-reconcile: prove, per period, account and VAT code, that Fiken holds it all.

That is, everything Moment invoiced. An independent, read-only cross-check: Moment's invoices
are read through tap-moment's streams, what Fiken should hold is computed with target-fiken's own
mappers, Fiken's journal entries for the period are read through target-fiken's ``FikenClient``
(GET only), and the target's ledger is the link between the two. See ``reconcile.reconcile`` for
the rules and ``cli.main`` for the command.
"""

from moment_fiken_reconcile.report import Report

__all__ = ["Report"]
