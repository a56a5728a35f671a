"""No form of any secret in any output, through every failure path, with every logger at DEBUG.

Secrets that contain quotes, backslashes, line breaks (trailing: stripped; inside: a config
error), spaces and non-ASCII characters: the personal token, the OAuth2 client secret and the
tokens Fiken issues, and the password inside a PostgreSQL `ledger_url`. Each path runs the target
in-process against fiken-sandbox; afterwards stdout, stderr, every log line, the rejects file,
the dry-run plan and the ledger's rows are searched for every form of every secret
(`redact.secret_forms`: raw, repr, escaped, JSON, URL-encoded, base64).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import sqlalchemy
from _fiken_fixtures import (
    customer,
    fresh_database,
    invoice,
    run_target,
    singer_lines,
)
from _oauth_fixtures import CLIENT_ID, authorize_by_paste, free_port, oauth_seed
from singer_sdk.exceptions import ConfigValidationError

from fiken_sandbox import FikenSandbox
from target_fiken.client import FikenClient
from target_fiken.ledger import ledger_table
from target_fiken.redact import install_redaction, secret_forms
from target_fiken.settings import (
    SECRET_SETTINGS,
    clean_config,
    credential_problem,
    secret_values,
)
from target_fiken.target import TargetFiken
from target_fiken.token_store import TokenStore

TOKEN = "pers\"onal'tok\\en-1"  # quotes and a backslash: valid in a header
CLIENT_SECRET = "cli\"ent'se\\cret"
LEDGER_PASSWORD = "pæ\"ss'wø rd\\\n€"  # anything goes in a database password
WRONG_TOKEN = "wro\"ng'tok\\en"
INNER_NEWLINE = "tok\nen-with-a-break"
NON_ASCII = "tøken-æøå"
SERVER_LOGGERS = ("fiken_sandbox", "werkzeug", "waitress", "gunicorn", "uvicorn")


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every log record of the target's process at DEBUG (the sandbox server's own excluded)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(lambda record: not record.name.startswith(SERVER_LOGGERS))
    root = logging.getLogger()
    names = ["", "target-fiken", "target_fiken", "singer_sdk", "urllib3", "requests", "authlib"]
    saved = [(name, logging.getLogger(name).level) for name in names]
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for name, level in saved:
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def quick_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and few retries, so the 5xx and timeout paths end in seconds."""
    defaults = FikenClient.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "timeout", (2.0, 0.5))
    monkeypatch.setitem(defaults, "max_attempts", 2)
    monkeypatch.setitem(defaults, "max_throttled_attempts", 3)
    monkeypatch.setitem(defaults, "backoff_base", 0.01)
    monkeypatch.setitem(defaults, "backoff_max", 0.05)


def _seed(port: int) -> dict[str, Any]:
    seed = oauth_seed(port)
    seed["personal_tokens"] = {TOKEN: ["demo-as"]}
    seed["oauth_clients"][0]["client_secret"] = CLIENT_SECRET
    return seed


def _run(config: dict[str, Any], lines: list[str], outputs: list[str]) -> BaseException | None:
    """Run the target, keep what it printed and the error it ended with (a config error too)."""
    try:
        result = run_target(config, lines, expect_error=None)
    except ConfigValidationError as exc:
        outputs.append(f"{exc} {exc.errors!r}")
        return exc
    outputs += [result.stdout, result.stderr, repr(result.error), str(result.error)]
    return result.error


def _ledger_dump(url: str) -> str:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return repr(conn.execute(sqlalchemy.select(ledger_table)).all())
    finally:
        engine.dispose()


def _leaks(text: str, secrets: set[str]) -> list[str]:
    found = []
    for secret in secrets:
        for form in secret_forms(secret) | secret_forms(secret.strip()):
            if len(form) >= 4 and form in text:
                found.append(f"{secret!r} as {form!r}")
    return found


@pytest.mark.usefixtures("quick_client")
def test_no_form_of_any_secret_in_any_output_on_any_path(
    tmp_path: Path,
    postgres_url: str,
    debug_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = fresh_database(postgres_url)
    host_part = database.split("@", 1)[1]
    ledger_url = f"postgresql+psycopg://postgres:{quote(LEDGER_PASSWORD, safe='')}@{host_part}"
    port = free_port()
    outputs: list[str] = []
    ended: dict[str, BaseException | None] = {}
    lines = singer_lines(
        [customer(1), customer(2, email=12345)], [], [invoice(1), invoice(2, customer_id=9)]
    )
    with FikenSandbox(tmp_path / "fiken", seed=_seed(port), limits=False) as fs:
        base: dict[str, Any] = {
            "company_slug": "demo-as\n",
            "base_url": fs.api_url,
            "ledger_url": ledger_url + "\n",
            "rejects_path": str(tmp_path / "rejects.jsonl"),
            "dry_run_path": str(tmp_path / "plan.jsonl"),
        }
        personal = {**base, "access_token": TOKEN + "\n"}
        oauth = {
            **base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET + "\r\n",
            "authorize_url": fs.authorize_url,
            "token_url": fs.token_url,
            "redirect_port": port,
            "token_store": str(tmp_path / "tokens.json"),
        }
        paths: list[tuple[str, dict[str, Any], Callable[[], None] | None]] = [
            ("dry run", {**personal, "dry_run": True}, None),
            ("run with rejects", personal, None),
            ("bad token (401)", {**personal, "access_token": WRONG_TOKEN + "\n"}, None),
            ("token with a line break inside", {**personal, "access_token": INNER_NEWLINE}, None),
            ("non-ASCII token", {**personal, "access_token": NON_ASCII}, None),
            ("both kinds of credentials", {**oauth, "access_token": TOKEN}, None),
            (
                "password in base_url",
                {**personal, "base_url": fs.api_url.replace("//", f"//u:{TOKEN}@")},
                None,
            ),
            ("Fiken 5xx", personal, lambda: fs.set_faults({"seed": 1, "500": 1.0})),
            (
                "timeout",
                personal,
                lambda: fs.set_faults(
                    {"seed": 1, "slow": 1.0, "slow_seconds": 1.0, "methods": ["GET"]}
                ),
            ),
        ]
        for name, config, before in paths:
            fs.set_faults(None)
            if before is not None:
                before()
            ended[name] = _run(config, lines, outputs)
        fs.set_faults(None)

        # OAuth2: authorize, a 401 answered by a forced refresh, then a revoked grant.
        authorize_by_paste(oauth, tmp_path / "target.json", monkeypatch, capsys)
        store = TokenStore(oauth["token_store"])
        issued = store.load()
        assert issued is not None
        fs.expire_tokens()
        ended["401, refreshed"] = _run(oauth, lines, outputs)
        after_refresh = store.load()
        assert after_refresh is not None
        requests.post(
            fs.revoke_url,
            headers={"Authorization": f"Bearer {after_refresh.access_token}"},
            timeout=10,
        ).raise_for_status()
        fs.expire_tokens()
        ended["refused refresh"] = _run(oauth, lines, outputs)
        outputs.append(capsys.readouterr().out)

    # Every path ended the way it should (so the test went through each of them).
    assert ended["dry run"] is None
    assert ended["run with rejects"] is None
    assert ended["401, refreshed"] is None
    assert "401" in str(ended["bad token (401)"]) or "token" in str(ended["bad token (401)"])
    for name in ("token with a line break inside", "non-ASCII token", "password in base_url"):
        assert isinstance(ended[name], ConfigValidationError), name
    assert "not both" in str(ended["both kinds of credentials"])
    assert ended["Fiken 5xx"] is not None
    assert ended["timeout"] is not None
    assert "authorize" in str(ended["refused refresh"])

    rejects = Path(base["rejects_path"]).read_text(encoding="utf-8")
    plan = Path(base["dry_run_path"]).read_text(encoding="utf-8")
    assert rejects.count("\n") >= 2
    assert plan
    secrets = {
        TOKEN,
        CLIENT_SECRET,
        LEDGER_PASSWORD,
        quote(LEDGER_PASSWORD, safe=""),
        WRONG_TOKEN,
        INNER_NEWLINE,
        NON_ASCII,
        issued.access_token,
        issued.refresh_token,
        after_refresh.access_token,
        after_refresh.refresh_token,
    }
    sources = {
        "stdout/stderr/errors": "\n".join(outputs),
        "log": debug_log.getvalue(),
        "rejects": rejects,
        "plan": plan,
        "ledger": _ledger_dump(database),
    }
    assert "Rejected" in sources["log"]  # the log really was captured at DEBUG
    for source, text in sources.items():
        assert not _leaks(text, secrets), source
    assert json.loads(plan.splitlines()[0])  # the plan is intact JSON Lines, only secret-free


# -- the pieces, each shown to matter -------------------------------------------------------------


def test_every_form_of_a_secret_in_a_header_error_and_its_traceback_is_redacted(
    debug_log: io.StringIO,
) -> None:
    """requests' own message quotes the whole header value (a bytes repr, `\\n` escaped)."""
    secret = "tø\"k'en\\x\n"
    uninstall = install_redaction(lambda: [secret])
    try:
        try:
            requests.Request(
                "GET", "http://127.0.0.1:9/", headers={"Authorization": f"Bearer {secret}"}
            ).prepare()
        except requests.exceptions.InvalidHeader as exc:
            logging.getLogger("target_fiken.test").exception("failed: %r / %s", exc, exc)
        logging.getLogger("target_fiken.test").error(
            "forms: %s %s %s", json.dumps({"t": secret}), quote(secret), ascii(secret)
        )
    finally:
        uninstall()
    text = debug_log.getvalue()
    assert "InvalidHeader" in text
    assert text.count("[REDACTED]") >= 5
    assert not _leaks(text, {secret})


def test_config_errors_name_the_setting_and_never_echo_the_value() -> None:
    for bad in (INNER_NEWLINE, NON_ASCII, "two words", "tab\there"):
        problem = credential_problem("client_secret", bad)
        assert problem is not None
        assert "client_secret" in problem
        assert not _leaks(problem, {bad})
    cleaned, problems = clean_config(
        {"access_token": f" {TOKEN}\r\n", "company_slug": "demo-as\n", "max_rejects": 3}
    )
    assert cleaned == {"access_token": TOKEN, "company_slug": "demo-as", "max_rejects": 3}
    assert problems == []


def test_schema_errors_of_the_sdk_are_redacted_too() -> None:
    """singer-sdk's jsonschema messages quote the value; a secret given as a number is one."""
    with pytest.raises(ConfigValidationError) as caught:
        TargetFiken(config={"company_slug": "demo-as", "access_token": 9876543210123})
    text = f"{caught.value} {caught.value.errors}"
    assert "access_token" in text
    assert "9876543210123" not in text


def test_the_ledger_password_is_on_the_redaction_list_in_every_form() -> None:
    url = f"postgresql://u:{quote(LEDGER_PASSWORD, safe='')}@127.0.0.1:5432/db\n"
    values = secret_values({"ledger_url": url, "access_token": TOKEN, "rejects_path": "/x"})
    assert LEDGER_PASSWORD in values
    assert quote(LEDGER_PASSWORD, safe="") in values
    assert TOKEN in values
    assert "/x" not in values
    assert set(SECRET_SETTINGS) >= {"access_token", "client_secret", "ledger_url"}
