"""The report as text (the terminal) and as CSV (one file per table).

Both are built from the same rows (``tables``), so the two never disagree.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from moment_fiken_reconcile.report import Finding, Report, kr

Table = tuple[list[str], list[list[str]]]  # header, rows
Money = Callable[[int], str]

SKIP_REASONS = {
    "draft": "drafts (not finalized)",
    "do_not_transfer": "marked 'do not transfer' in Moment",
    "transferred_elsewhere": "marked transferred in Moment, not in Fiken (transferred elsewhere)",
    "nothing_to_book": "zero amounts (nothing to book)",
}


def ore(amount: int) -> str:
    """Øre as a plain integer, for machines (CSV)."""
    return str(amount)


def summary_table(report: Report, money: Money = kr) -> Table:
    """Month × account × VAT code, Moment / Fiken / difference (net, VAT, gross), and a total."""
    header = ["month", "account", "vat_code"] + [
        f"{side}_{part}"
        for side in ("moment", "fiken", "difference")
        for part in ("net", "vat", "gross")
    ]
    rows = []
    for r in [*report.summary, None]:
        if r is None:
            month, account, code = "total", "", ""
            sides = (
                report.total_moment,
                report.total_fiken,
                report.total_fiken - report.total_moment,
            )
        else:
            month, account, code = r.month, r.account, r.vat_code
            sides = (r.moment, r.fiken, r.difference)
        rows.append(
            [month, account, code] + [money(v) for a in sides for v in (a.net, a.vat, a.gross)]
        )
    return header, rows


def receivable_table(report: Report, money: Money = kr) -> Table:
    """What each customer owes for the period's invoices: Moment, Fiken, difference."""
    header = ["account", "customer", "moment", "fiken", "difference"]
    rows = [
        [r.account, r.customer, money(r.moment), money(r.fiken), money(r.difference)]
        for r in report.receivables
    ]
    return header, rows


def findings_table(findings: list[Finding], money: Money = kr) -> Table:
    """One of the missing / extra / different lists."""
    header = ["invoice", "date", "fiken_entry", "ledger_status", "amount", "reason"]
    rows = [
        [f.invoice, f.date, f.entry, f.status, "" if f.gross is None else money(f.gross), f.reason]
        for f in findings
    ]
    return header, rows


def skipped_table(report: Report) -> Table:
    """How the period's invoices add up: booked, not mappable, skipped per reason."""
    rows = [
        ["invoices dated in the period", str(report.invoices_in_period)],
        ["to be booked (in the Moment column)", str(report.mapped)],
        ["to be booked, but not mappable today (listed as missing)", str(report.unmappable)],
    ]
    rows += [
        [f"skipped: {SKIP_REASONS.get(reason, reason)}", str(count)]
        for reason, count in sorted(report.skipped.items())
    ]
    return ["what", "invoices"], rows


def tables(report: Report, money: Money = kr) -> dict[str, Table]:
    """Every table of the report, by file name stem, summary first."""
    return {
        "summary": summary_table(report, money),
        "receivables": receivable_table(report, money),
        "missing": findings_table(report.missing, money),
        "extra": findings_table(report.extra, money),
        "different": findings_table(report.different, money),
        "invoices": skipped_table(report),
    }


def verdict(report: Report) -> str:
    """One line: matches, or how many differences of each kind."""
    if report.matches:
        return "MATCHES: Fiken holds exactly what Moment invoiced in the period."
    counts = (
        f"{len(report.missing)} missing, {len(report.extra)} extra, "
        f"{len(report.different)} different"
    )
    return f"DIFFERENCES: {counts}."


def cost_line(report: Report) -> str:
    """The Fiken cost of this reconciliation."""
    return (
        f"Fiken API calls: {report.fiken_calls} (GET only) for {report.entries_read} "
        "journal entries in the period."
    )


def _text_table(header: list[str], rows: list[list[str]], numeric_from: int) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    out = []
    for row in [header, *rows]:
        cells = [
            str(v).rjust(w) if i >= numeric_from else str(v).ljust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _findings_text(title: str, findings: list[Finding]) -> list[str]:
    lines = [f"{title}: {len(findings)}"]
    for f in findings:
        amount = "" if f.gross is None else f" {kr(f.gross)}"
        entry = f" [{f.entry}]" if f.entry else ""
        lines.append(f"  {f.invoice} {f.date}{amount}{entry} ledger: {f.status}. {f.reason}")
    return lines


def render_text(report: Report) -> str:
    """The whole report for a terminal: summary first, then the lists."""
    out = [
        f"Reconciliation of Fiken company {report.company} against Moment, "
        f"{report.period_from} to {report.period_to}",
        "Amounts in NOK. Summary: sales credit positive (net, VAT, gross); difference = Fiken - "
        "Moment.",
        "",
    ]
    header, rows = summary_table(report)
    out += _text_table(header, rows, numeric_from=3)
    out += ["", "Receivable per customer (debit positive):"]
    header, rows = receivable_table(report)
    out += _text_table(header, rows, numeric_from=2) if rows else ["  (none)"]
    out.append("")
    out += _findings_text("Missing in Fiken", report.missing)
    out += _findings_text("Extra in Fiken", report.extra)
    out += _findings_text("Different", report.different)
    out += ["", "Invoices:"]
    out += ["  " + line for line in _text_table(*skipped_table(report), numeric_from=1)[1:]]
    out += ["", *report.notes, cost_line(report), verdict(report)]
    return "\n".join(line for line in out) + "\n"


def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV file per table in ``folder`` (created if needed), amounts in øre; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (header, rows) in tables(report, ore).items():
        path = folder / f"{stem}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written
