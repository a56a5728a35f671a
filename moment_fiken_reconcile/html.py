"""The report as one self-contained HTML page: summary first, then the lists.

Inline CSS, no script, no external file or font: it opens without a network. Jinja2 escapes
every value (descriptions and names come from Moment and Fiken).
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from moment_fiken_reconcile.render import cost_line, tables, verdict
from moment_fiken_reconcile.report import Report

_ENV = Environment(
    loader=PackageLoader("moment_fiken_reconcile", "templates"),
    autoescape=select_autoescape(("html", "j2")),
    trim_blocks=True,
    lstrip_blocks=True,
)

TITLES = {
    "summary": "Summary per month, account and VAT code (sales credit positive)",
    "receivables": "Receivable per customer (debit positive)",
    "missing": "Missing in Fiken",
    "extra": "Extra in Fiken",
    "different": "Different",
    "invoices": "How the period's invoices add up",
}
NUMERIC_FROM = {"summary": 3, "receivables": 2, "invoices": 1}


def render_html(report: Report) -> str:
    """The report as a page."""
    sections = [
        {
            "id": stem,
            "title": TITLES[stem],
            "header": header,
            "rows": rows,
            "numeric_from": NUMERIC_FROM.get(stem, 99),
            "total": stem == "summary",
        }
        for stem, (header, rows) in tables(report).items()
    ]
    return _ENV.get_template("report.html.j2").render(
        report=report,
        sections=sections,
        verdict=verdict(report),
        cost=cost_line(report),
    )
