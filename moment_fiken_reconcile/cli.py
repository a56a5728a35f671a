"""``moment-fiken-reconcile``: the command line.

    moment-fiken-reconcile --tap-config tap.json --target-config target.json
        --from 2026-01-01 --to 2026-02-28 [--format text|csv|html] [--out PATH]

Exit code 0 when Fiken holds exactly what Moment invoiced, 1 when there are differences, 2 on an
error (one sentence on stderr, no secret in it). It sends GET requests only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from moment_fiken_reconcile.fiken_source import make_client, read_journal_entries
from moment_fiken_reconcile.html import render_html
from moment_fiken_reconcile.ledger_source import read_ledger
from moment_fiken_reconcile.moment_source import read_moment
from moment_fiken_reconcile.reconcile import reconcile
from moment_fiken_reconcile.render import cost_line, render_text, verdict, write_csv
from moment_fiken_reconcile.report import Report
from target_fiken.redact import install_redaction, redact

EXIT_MATCH, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "csv", "html")


class ReconcileError(Exception):
    """A problem that stops the reconciliation, said in one sentence."""


def _date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        msg = f"not a date (yyyy-mm-dd): {value!r}"
        raise argparse.ArgumentTypeError(msg) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="moment-fiken-reconcile",
        description="Prove, per month, account and VAT code, that Fiken holds what Moment "
        "invoiced in a period. GET requests only.",
    )
    parser.add_argument("--tap-config", required=True, type=Path, help="tap-moment config JSON")
    parser.add_argument(
        "--target-config", required=True, type=Path, help="target-fiken config JSON"
    )
    parser.add_argument("--from", dest="date_from", required=True, type=_date, help="yyyy-mm-dd")
    parser.add_argument("--to", dest="date_to", required=True, type=_date, help="yyyy-mm-dd")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--out",
        type=Path,
        help="file (text, html) or folder (csv); default: the terminal (text, html) or "
        "./reconciliation-FROM-TO/ (csv)",
    )
    args = parser.parse_args(argv)
    if args.date_from > args.date_to:
        parser.error(f"--from {args.date_from} is after --to {args.date_to}")
    return args


def _config(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read the {what} config {path}: {exc.strerror}"
        raise ReconcileError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"the {what} config {path} is not valid JSON (line {exc.lineno})"
        raise ReconcileError(msg) from None
    if not isinstance(data, dict):
        msg = f"the {what} config {path} is not a JSON object"
        raise ReconcileError(msg)
    return data


def run(
    tap_config: Mapping[str, Any],
    target_config: Mapping[str, Any],
    date_from: str,
    date_to: str,
) -> Report:
    """Read Moment, the ledger and Fiken (GET only) and reconcile the period."""
    slug = target_config.get("company_slug")
    if not slug:
        msg = "the target config has no company_slug"
        raise ReconcileError(msg)
    moment = read_moment(tap_config)
    ledger = read_ledger(target_config.get("ledger_url"), str(slug))
    client = make_client(target_config)
    entries = read_journal_entries(client, date_from, date_to)
    return reconcile(
        moment,
        entries,
        ledger,
        date_from=date_from,
        date_to=date_to,
        company=str(slug),
        rounding_account=str(target_config.get("rounding_account") or "7740"),
        fiken_calls=client.stats.total,
    )


def write_report(report: Report, fmt: str, out: Path | None) -> str:
    """Write the report where asked; returns where it went (for the closing line)."""
    if fmt == "csv":
        folder = out or Path(f"reconciliation-{report.period_from}-{report.period_to}")
        write_csv(report, folder)
        return f"CSV tables in {folder}/"
    text = render_text(report) if fmt == "text" else render_html(report)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return str(out)


def _secrets(*configs: Mapping[str, Any]) -> list[str | None]:
    """Every secret the configs hold, a database password in ``ledger_url`` included."""
    keys = ("api_key", "access_token", "client_secret", "refresh_token")
    found: list[str | None] = [str(c[k]) for c in configs for k in keys if c.get(k)]
    for c in configs:
        try:
            found.append(make_url(str(c["ledger_url"])).password if c.get("ledger_url") else None)
        except ArgumentError:
            continue
    return [s for s in found if s]


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    secrets: list[str | None] = []
    uninstall = install_redaction(lambda: secrets)
    try:
        tap_config = _config(args.tap_config, "tap-moment")
        target_config = _config(args.target_config, "target-fiken")
        secrets.extend(_secrets(tap_config, target_config))
        report = run(tap_config, target_config, args.date_from, args.date_to)
        where = write_report(report, args.format, args.out)
    except Exception as exc:  # every failure is exit 2 with one sentence, never a traceback
        text = str(exc) or type(exc).__name__
        sys.stderr.write(f"Error: {redact(text, secrets)}\n")
        return EXIT_ERROR
    finally:
        uninstall()
    if args.format != "text" or args.out is not None:
        sys.stderr.write(f"{verdict(report)} {cost_line(report)} Report: {where}\n")
    return report.exit_code


def console() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
