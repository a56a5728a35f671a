"""An in-memory Fiken for tests: the `FikenPort` the target's core talks to, with no HTTP.

It keeps contacts, projects, bank accounts and journal entries of one company the way
fiken-sandbox shows them (ids, `customerAccountCode`, `accountCode`, journal-entry lines with
account and amount), answers the look-ups the target makes (`memberNumberString`, `number`,
`date`/`dateGe`/`dateLe`, `sortBy`), and raises what `FikenClient` raises.

Faults are scripted, one per matching request, so a test decides exactly which write fails
and how (`inject`):

* `timeout`: no answer and nothing stored (`WriteOutcomeUnknown`);
* `lost_after_commit`: stored, but the answer is lost (`WriteOutcomeUnknown`);
* `late_commit`: no answer now; the object appears `delay` seconds later on the fake clock
  (Fiken still working on a POST the client gave up on);
* `5xx`: a 500 answer, nothing stored (`WriteOutcomeUnknown` with status 500);
* `429`: throttled; the client's wait is taken on the fake clock (never slept) and the
  request then goes through;
* `kill_before` / `kill_after`: the process dies (`Killed`, a BaseException) before or after
  Fiken stored the write.

`FakeClock` is the injected clock: `now()` for the engine, `advance()` for the test.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fiken_sandbox.chart import STANDARD_CHART
from target_fiken.client import (
    PAGE_SIZE,
    ApiStats,
    Created,
    FikenNotFound,
    FikenRecordError,
    WriteOutcomeUnknown,
)

FAULT_KINDS = (
    "timeout",
    "lost_after_commit",
    "late_commit",
    "5xx",
    "429",
    "kill_before",
    "kill_after",
)


class Killed(BaseException):
    """The process died here (kill -9: nothing in the target may catch it)."""


class FakeClock:
    """A monotonic clock that only moves when told (or when a 429 makes the client wait)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        """Now."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.t += seconds


@dataclass
class Fault:
    """One scripted fault for the next matching request."""

    kind: str
    method: str = "POST"
    path_contains: str = ""
    delay: float = 0.0  # late_commit: seconds until the object appears


@dataclass
class FakeResponse:
    """Enough of `requests.Response` for the port's callers."""

    status_code: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body."""
        return copy.deepcopy(self.payload)


_COLLECTIONS = {
    "contacts": "contactId",
    "projects": "projectId",
    "bankAccounts": "bankAccountId",
    "journalEntries": "journalEntryId",
}


class FikenFake:
    """One Fiken company in memory, behind the `FikenPort` interface."""

    def __init__(
        self,
        company_slug: str = "demo-as",
        *,
        clock: FakeClock | None = None,
        project_module: bool = True,
    ) -> None:
        self.company_slug = company_slug
        self.clock = clock or FakeClock()
        self.project_module = project_module
        self.stats = ApiStats()
        self.data: dict[str, list[dict[str, Any]]] = {k: [] for k in _COLLECTIONS}
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (collection, body) of stored POSTs
        self.faults: list[Fault] = []
        self.fault_log: list[tuple[str, str, str]] = []  # (kind, method, path)
        self.on_post: Callable[[str, dict[str, Any]], None] | None = None
        self._late: list[tuple[float, str, dict[str, Any]]] = []
        self._next_id = 1000
        self._next_sub = 10000

    def __repr__(self) -> str:
        return f"FikenFake({self.company_slug!r})"

    # -- test controls -----------------------------------------------------------------------

    def inject(
        self, kind: str, *, method: str = "POST", path_contains: str = "", delay: float = 0
    ) -> None:
        """Script a fault for the next request of `method` whose path contains `path_contains`."""
        if kind not in FAULT_KINDS:
            msg = f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}"
            raise ValueError(msg)
        self.faults.append(Fault(kind, method.upper(), path_contains, delay))

    def objects(self, collection: str) -> list[dict[str, Any]]:
        """What Fiken holds now (late commits that are due included)."""
        self._apply_late()
        return copy.deepcopy(self.data[collection])

    @property
    def writes(self) -> int:
        """Write requests answered so far."""
        return self.stats.writes

    # -- FikenPort ---------------------------------------------------------------------------

    def company_path(self, suffix: str = "") -> str:
        """`/companies/<slug><suffix>`."""
        return f"/companies/{self.company_slug}{suffix}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> FakeResponse:
        """One request: faults first, then the resource."""
        method = method.upper()
        self._apply_late()
        self.stats.by_method[method] += 1
        fault = self._take_fault(method, path)
        if fault is not None:
            self.fault_log.append((fault.kind, method, path))
            if fault.kind == "429":
                self.stats.throttled += 1
                self.stats.retries += 1
                self.stats.by_method[method] += 1
                self.clock.advance(1.0)  # the client honours Retry-After: 1 (on this clock)
            elif fault.kind in {"timeout", "5xx"}:
                status = 500 if fault.kind == "5xx" else None
                raise WriteOutcomeUnknown(f"{method} {path}: {fault.kind}", status=status)
            elif fault.kind == "kill_before":
                raise Killed(f"killed before {method} {path}")
            elif fault.kind == "late_commit":
                self._late.append((self.clock() + fault.delay, path, copy.deepcopy(json)))
                raise WriteOutcomeUnknown(f"{method} {path}: read timeout")
        response = self._route(method, path, dict(params or {}), json)
        if fault is not None and fault.kind == "lost_after_commit":
            raise WriteOutcomeUnknown(f"{method} {path}: connection reset after commit")
        if fault is not None and fault.kind == "kill_after":
            raise Killed(f"killed after {method} {path}")
        self.stats.by_status[response.status_code] += 1
        return response

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """A resource, or None for 404."""
        try:
            return self.request("GET", path, params=params).json()
        except FikenNotFound:
            return None

    def iter_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Each page of a list (100 a page)."""
        page = 0
        while True:
            response = self.request(
                "GET", path, params={**(params or {}), "page": page, "pageSize": PAGE_SIZE}
            )
            yield response.json()
            if page + 1 >= int(response.headers["Fiken-Api-Page-Count"]):
                return
            page += 1

    def list_all(self, path: str, *, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a list."""
        return [item for chunk in self.iter_pages(path, params=params) for item in chunk]

    def create(self, path: str, body: Any) -> Created:
        """POST; the id from the Location header."""
        response = self.request("POST", path, json=body)
        location = response.headers["Location"]
        parts = location.rstrip("/").split("/")
        return Created(location=location, id=parts[-1], kind=parts[-2])

    def put(self, path: str, body: Any) -> None:
        """PUT."""
        self.request("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> None:
        """PATCH."""
        self.request("PATCH", path, json=body)

    # -- internals ---------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method == method and fault.path_contains in path:
                return self.faults.pop(i)
        return None

    def _apply_late(self) -> None:
        due = [item for item in self._late if item[0] <= self.clock()]
        for item in due:
            self._late.remove(item)
            hook, self.on_post = self.on_post, None  # sent earlier: not a POST made now
            try:
                self._route("POST", item[1], {}, item[2])
            finally:
                self.on_post = hook

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _route(self, method: str, path: str, params: dict[str, Any], body: Any) -> FakeResponse:
        prefix = self.company_path()
        if not path.startswith(prefix):
            raise FikenNotFound(f"{method} {path}: no such company", status=404)
        rest = [p for p in path[len(prefix) :].split("/") if p]
        if not rest:
            return FakeResponse(200, self._company())
        kind, ident = rest[0], (rest[1] if len(rest) > 1 else None)
        if kind == "projects" and not self.project_module:
            raise FikenRecordError(f"{method} {path}: project module off", status=402)
        if method == "GET":
            if kind == "accounts":
                return _page([{"code": c, "name": n} for c, n in self._chart().items()], params)
            if kind not in _COLLECTIONS:
                raise FikenNotFound(f"GET {path}", status=404)
            items = self.data[kind]
            if ident is not None:
                found = [i for i in items if str(i[_COLLECTIONS[kind]]) == ident]
                if not found:
                    raise FikenNotFound(f"GET {path}", status=404)
                return FakeResponse(200, self._view(kind, found[0]))
            return _page([self._view(kind, i) for i in items if _matches(kind, i, params)], params)
        if method == "POST":
            return self._post(kind, body, path)
        if method in {"PUT", "PATCH"} and ident is not None:
            return self._change(method, kind, ident, body, path)
        raise FikenRecordError(f"{method} {path}: not allowed", status=405)

    def _company(self) -> dict[str, Any]:
        return {
            "slug": self.company_slug,
            "name": "Demo AS",
            "hasApiAccess": True,
            "testCompany": True,
        }

    def _chart(self) -> dict[str, str]:
        chart = dict(STANDARD_CHART)
        for c in self.data["contacts"]:
            if "customerAccountCode" in c:
                chart[c["customerAccountCode"]] = c.get("name", "")
        for b in self.data["bankAccounts"]:
            chart[b["accountCode"]] = b.get("name", "")
        return chart

    def _post(self, kind: str, body: Any, path: str) -> FakeResponse:
        if not isinstance(body, dict):
            raise FikenRecordError(f"POST {path}: body must be an object", status=400)
        stored: dict[str, Any]
        if kind == "contacts":
            if not body.get("name"):
                raise FikenRecordError(f"POST {path}: name is required", status=400)
            stored = {
                "contactId": self._new_id(),
                **copy.deepcopy(body),
                "createdDate": self.clock(),
            }
            if body.get("customer"):
                self._next_sub += 1
                stored["customerAccountCode"] = f"1500:{self._next_sub}"
        elif kind == "projects":
            if any(p.get("number") == body.get("number") for p in self.data["projects"]):
                raise FikenRecordError(f"POST {path}: project number taken", status=400)
            stored = {"projectId": self._new_id(), **copy.deepcopy(body)}
        elif kind == "bankAccounts":
            self._next_sub += 1
            stored = {
                "bankAccountId": self._new_id(),
                **copy.deepcopy(body),
                "accountCode": f"1920:{self._next_sub}",
            }
        elif kind == "generalJournalEntries":
            return self._book(body, path)
        else:
            raise FikenNotFound(f"POST {path}", status=404)
        self.data[kind].append(stored)
        self._posted(kind, body)
        return _located(self.company_path(f"/{kind}/{stored[_COLLECTIONS[kind]]}"))

    def _book(self, body: dict[str, Any], path: str) -> FakeResponse:
        chart = self._chart()
        tx = self._new_id()
        entries = []
        for entry in body.get("journalEntries") or []:
            lines = []
            for line in entry.get("lines") or []:
                for side, sign in (("debit", 1), ("credit", -1)):
                    account = line.get(f"{side}Account")
                    if account is None:
                        continue
                    if str(account) not in chart:
                        raise FikenRecordError(
                            f"POST {path}: account {account} does not exist", status=400
                        )
                    lines.append({"account": str(account), "amount": sign * int(line["amount"])})
            entries.append(
                {
                    "journalEntryId": self._new_id(),
                    "transactionId": tx,
                    "date": entry.get("date"),
                    "description": "Fri postering registrert via API: "
                    + str(entry.get("description") or ""),
                    "lines": lines,
                }
            )
        self.data["journalEntries"].extend(entries)
        self._posted("generalJournalEntries", body)
        return _located(self.company_path(f"/transactions/{tx}"))

    def _posted(self, kind: str, body: dict[str, Any]) -> None:
        self.posts.append((kind, copy.deepcopy(body)))
        if self.on_post is not None:
            self.on_post(kind, body)

    def _change(self, method: str, kind: str, ident: str, body: Any, path: str) -> FakeResponse:
        items = self.data.get(kind, [])
        key = _COLLECTIONS.get(kind, "")
        for i, item in enumerate(items):
            if str(item.get(key)) == ident:
                if method == "PUT":
                    keep = {
                        k: item[k] for k in (key, "customerAccountCode", "createdDate") if k in item
                    }
                    items[i] = {**copy.deepcopy(body), **keep}
                else:
                    items[i] = {**item, **copy.deepcopy(body)}
                return _located(self.company_path(f"/{kind}/{ident}"), status=200)
        raise FikenNotFound(f"{method} {path}", status=404)

    @staticmethod
    def _view(kind: str, item: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(item)
        if kind == "contacts":
            view.pop("memberNumberString", None)  # write-only in Fiken
            view.pop("createdDate", None)
        return view


def _matches(kind: str, item: dict[str, Any], params: Mapping[str, Any]) -> bool:
    if kind == "contacts" and "memberNumberString" in params:
        return str(item.get("memberNumberString")) == str(params["memberNumberString"])
    if kind == "projects" and "number" in params:
        return str(item.get("number")) == str(params["number"])
    if kind == "journalEntries":
        date = str(item.get("date"))
        if "date" in params and date != params["date"]:
            return False
        if "dateGe" in params and date < params["dateGe"]:
            return False
        if "dateLe" in params and date > params["dateLe"]:
            return False
    return True


def _page(items: list[dict[str, Any]], params: Mapping[str, Any]) -> FakeResponse:
    if params.get("sortBy") == "createdDate desc":
        items = list(reversed(items))
    size = int(params.get("pageSize", PAGE_SIZE))
    page = int(params.get("page", 0))
    count = max(1, -(-len(items) // size))
    chunk = items[page * size : (page + 1) * size]
    return FakeResponse(200, chunk, {"Fiken-Api-Page-Count": str(count)})


def _located(location: str, status: int = 201) -> FakeResponse:
    return FakeResponse(status, None, {"Location": "https://fake.fiken.test/api/v2" + location})


_MARKER = re.compile(r"Moment (faktura|kreditnota) (\d+)")


def booked_invoice_numbers(fake: FikenFake) -> list[int]:
    """The Moment invoice number of every journal entry (repeats mean a double booking)."""
    numbers = []
    for entry in fake.objects("journalEntries"):
        found = _MARKER.search(str(entry.get("description") or ""))
        if found:
            numbers.append(int(found.group(2)))
    return numbers


class MemoryLedger:
    """The ledger's interface over a dict: survives a simulated kill (the engine does not)."""

    company_slug = "demo-as"

    def __init__(self) -> None:
        from target_fiken.ledger import LedgerRow  # noqa: PLC0415 - keeps the import local

        self._row_type = LedgerRow
        self.rows_by_key: dict[tuple[str, str], Any] = {}
        self._order: dict[tuple[str, str], int] = {}
        self._tick = 0

    def __repr__(self) -> str:
        return f"MemoryLedger({len(self.rows_by_key)} rows)"

    def get(self, stream: str, source_id: str) -> Any:
        """The row, or None."""
        return self.rows_by_key.get((stream, source_id))

    def put(self, row: Any) -> None:
        """Insert or replace (oldest-first order follows the last write, like `updated_at`)."""
        key = (row.stream, row.source_id)
        self._tick += 1
        self.rows_by_key[key] = row
        self._order[key] = self._tick

    def rows(self, stream: str, statuses: tuple[Any, ...]) -> Iterator[Any]:
        """Rows of a stream in the given statuses, oldest first."""
        keys = sorted(
            (k for k, r in self.rows_by_key.items() if k[0] == stream and r.status in statuses),
            key=lambda k: self._order[k],
        )
        for key in keys:
            yield self.rows_by_key[key]

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows per (stream, status)."""
        out: dict[tuple[str, str], int] = {}
        for (stream, _), row in self.rows_by_key.items():
            out[(stream, row.status.value)] = out.get((stream, row.status.value), 0) + 1
        return out

    def fiken_ids(self, stream: str) -> set[str]:
        """Fiken ids linked to a record of `stream`."""
        return {r.fiken_id for (s, _), r in self.rows_by_key.items() if s == stream and r.fiken_id}

    def close(self) -> None:
        """Nothing to release."""


def make_engine(
    fake: FikenFake,
    ledger: Any,
    rejects_path: Any,
    *,
    safe_delay: float = 300.0,
    pre_checks: Any = (),
) -> Any:
    """An engine over the fake, as one run of the target builds it (preflight included)."""
    from target_fiken.context import RunContext  # noqa: PLC0415
    from target_fiken.engine import Engine  # noqa: PLC0415
    from target_fiken.preflight import run_preflight  # noqa: PLC0415
    from target_fiken.reference import ReferenceData  # noqa: PLC0415
    from target_fiken.rejects import RejectsFile  # noqa: PLC0415
    from target_fiken.summary import RunSummary  # noqa: PLC0415

    refs = ReferenceData(fake)  # type: ignore[arg-type]
    run_preflight(fake, refs)  # type: ignore[arg-type]
    ctx = RunContext(
        client=fake,  # type: ignore[arg-type]
        ledger=ledger,
        rejects=RejectsFile(rejects_path),
        refs=refs,
        summary=RunSummary(),
    )
    return Engine(ctx, clock=fake.clock, safe_delay=safe_delay, pre_checks=pre_checks)
