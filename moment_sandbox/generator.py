"""Deterministic, realistic Norwegian bookkeeping data for the Moment sandbox.

`generate_dataset(n_invoices, seed)` returns customers, projects, invoices (with lines) and
financial accounts. Same arguments give a byte-identical dataset (`codec.dumps` of the result):
everything comes from one seeded random generator, nothing iterates a set or reads the clock.

What the data holds, so that tests and the demo exercise the real rules:

* Customers with æøå in their names, valid org numbers (Norwegian mod-11; a few Swedish (Luhn)
  and Danish (CVR mod-11) customers), emails, addresses, mostly active.
* Projects with unique names; some have no start date yet (Fiken cannot take them).
* Invoices with 1-4 lines on VAT codes 3/31/33/5/6 where each line's VAT is
  round_half_up(net * rate, 2), head amounts equal the line sums, `amountRoundoff` rounds some
  NOK totals to whole kroner, and `totalAmount = amountExcludingVat + vatAmount + amountRoundoff`.
  Mostly finalized; some drafts, `doNotTransfer`, already `transferred`; credit notes (negative,
  crediting an earlier invoice of the same customer); a few in EUR; KID; two NOK company bank
  accounts and one EUR account, sometimes written with dots.
* A deterministic share `bad_rate` of finalized invoices with one bad line: account 3050 (not in
  Fiken's chart) or a null VAT code on a normal sales account. `bad_rate=0` gives none.
* Many rows share a `lastModifiedDate` (Moment's bulk updates), so paging must break ties by id.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from moment_sandbox import model
from moment_sandbox.clock import format_oslo, oslo_offset_hours

_T = TypeVar("_T")
_CENT = Decimal("0.01")
_KRONE = Decimal("1")
_HUNDRED = Decimal(100)
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# The dataset's timeline: rows are created between these instants (UTC).
_START_US = (datetime(2025, 1, 2, 7, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)
_SPAN_DAYS = 540


@dataclass(frozen=True)
class VatClass:
    """A Moment sales account and the VAT code set on it."""

    code: str
    percentage: Decimal
    account: str
    descriptions: tuple[str, ...]


VAT_CLASSES: dict[str, VatClass] = {
    "3": VatClass(
        "3",
        Decimal(25),
        "3000",
        (
            "Konsulenttimer",
            "Rådgivning",
            "Prosjektledelse",
            "Rørleggerarbeid",
            "Elektrikerarbeid",
            "Tømrerarbeid",
            "Materiell",
            "Deler og utstyr",
            "Programvarelisens, årlig",
            "Servicebesøk",
            "Kjøregodtgjørelse",
        ),
    ),
    "31": VatClass("31", Decimal(15), "3020", ("Servering", "Lunsj til arbeidsmøte")),
    "33": VatClass("33", Decimal(12), "3030", ("Overnatting", "Persontransport")),
    "5": VatClass("5", Decimal(0), "3100", ("Faglitteratur", "Aviser og tidsskrift")),
    "6": VatClass(
        "6", Decimal(0), "3200", ("Utleie av kontorlokaler", "Tjenester levert i utlandet")
    ),
}
# Lines billed by the hour; the others are goods, expenses and rent.
_HOURLY = frozenset(
    {
        "Konsulenttimer",
        "Rådgivning",
        "Prosjektledelse",
        "Rørleggerarbeid",
        "Elektrikerarbeid",
        "Tømrerarbeid",
        "Servicebesøk",
        "Tjenester levert i utlandet",
    }
)
# Domestic lines mostly carry the standard rate.
_DOMESTIC_VAT_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("3", 80),
    ("31", 4),
    ("33", 5),
    ("5", 6),
    ("6", 5),
)

ROUNDING_ACCOUNT = "7740"
UNKNOWN_IN_FIKEN_ACCOUNT = "3050"

FINANCIAL_ACCOUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("3000", "Salgsinntekt, avgiftspliktig", "3"),
    ("3020", "Salgsinntekt, middels sats", "31"),
    ("3030", "Salgsinntekt, lav sats", "33"),
    ("3100", "Salgsinntekt, avgiftsfri", "5"),
    ("3200", "Salgsinntekt, utenfor avgiftsområdet", "6"),
    (ROUNDING_ACCOUNT, "Øreavrunding", None),
    (UNKNOWN_IN_FIKEN_ACCOUNT, "Salgsinntekt, annen", "3"),
)

_SHOWCASE_NAMES = ("Bærum Rørlegger AS", "Østlandske Gårdsbruk AS")
_PLACES = (
    "Bærum",
    "Østlandske",
    "Ålesund",
    "Tromsø",
    "Bodø",
    "Sørlandets",
    "Lillestrøm",
    "Hønefoss",
    "Førde",
    "Skøyen",
    "Grünerløkka",
    "Mjøndalen",
    "Fjære",
    "Røros",
    "Sandnessjøen",
    "Kristiansand",
    "Trondheim",
    "Bergen",
    "Stavanger",
    "Drammen",
    "Hamar",
    "Molde",
    "Gjøvik",
    "Halden",
    "Nordre",
    "Vestre",
    "Søndre",
    "Øvre",
    "Nedre",
    "Fjord",
)
_TRADES = (
    "Rørlegger",
    "Gårdsbruk",
    "Elektro",
    "Bygg",
    "Regnskap",
    "Maskin",
    "Transport",
    "Rådgivning",
    "Snekkerverksted",
    "Tømrer",
    "Fiskeoppdrett",
    "Blomster",
    "Bakeri",
    "Arkitekter",
    "Eiendom",
    "Økonomi",
    "Sjømat",
    "Trelast",
    "Våtrom",
    "Kjøkken",
    "Data",
    "Reklame",
    "Tannhelse",
    "Skog",
    "Bilverksted",
)
_SURNAMES = (
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Nilsen",
    "Haugen",
    "Sørensen",
    "Jørgensen",
    "Sæther",
    "Næss",
    "Bøe",
    "Strøm",
    "Ødegård",
    "Nygård",
    "Rønning",
    "Aasen",
    "Lie",
    "Dahl",
    "Solberg",
)
_FIRST_NAMES = ("Kari", "Ola", "Åse", "Per", "Ingrid", "Lars", "Bjørn", "Solveig", "Øystein", "Mia")
_COMPANY_FORMS = ("AS", "AS", "AS", "ANS", "DA", "SA")
_NO_STREETS = (
    "Storgata",
    "Kirkegata",
    "Dronningens gate",
    "Kongens gate",
    "Fjordveien",
    "Industriveien",
    "Sjøgata",
    "Strandgata",
    "Løkkeveien",
    "Øvre Slottsgate",
    "Jernbanegata",
    "Bøgata",
)
_NO_POSTAL = (
    ("0155", "Oslo"),
    ("0560", "Oslo"),
    ("1337", "Sandvika"),
    ("5003", "Bergen"),
    ("7010", "Trondheim"),
    ("4006", "Stavanger"),
    ("9008", "Tromsø"),
    ("3015", "Drammen"),
    ("4610", "Kristiansand"),
    ("6002", "Ålesund"),
    ("8006", "Bodø"),
    ("2317", "Hamar"),
    ("2000", "Lillestrøm"),
    ("6800", "Førde"),
    ("7374", "Røros"),
)
_FOREIGN = {
    "SE": (
        ("Drottninggatan", "Kungsgatan", "Storgatan"),
        (("111 51", "Stockholm"), ("411 01", "Göteborg"), ("211 20", "Malmö")),
        ("Göta", "Svea", "Skånska", "Norrländska", "Uppsala", "Värmlands"),
        ("Trä", "Konsult", "Bygg", "Fisk", "Data", "Elteknik"),
        "AB",
    ),
    "DK": (
        ("Strøget", "Vesterbrogade", "Nørregade"),
        (("1160", "København K"), ("8000", "Aarhus C"), ("5000", "Odense C")),
        ("Jysk", "Fynsk", "Øresund", "Sjællands", "Aarhus", "Dansk"),
        ("Tømrer", "Rådgivning", "Elektro", "Søfart", "Data", "Byg"),
        "ApS",
    ),
}
_PROJECT_KINDS = (
    "Nettside",
    "Rørarbeid",
    "Ombygging kontor",
    "Årsoppgjør",
    "Rådgivning",
    "Vedlikeholdsavtale",
    "Bad og våtrom",
    "Tilbygg",
    "Systemintegrasjon",
    "Revisjonsbistand",
    "Fiberutbygging",
    "Ladestasjoner",
    "Energisparing",
    "Kjøkkenmontering",
)
_MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)


class _FastRandom(random.Random):
    """`random.Random` with cheap integer draws.

    `int(random() * n)` is one C call, where `randrange`/`choice` run several Python frames per
    draw and dominated generation time. The bias (below 2**-30 for the ranges used here) does not
    matter for test data; determinism does, and both are seeded the same way.
    """

    def below(self, n: int) -> int:
        """A number in [0, n)."""
        return int(self.random() * n)

    def between(self, low: int, high: int) -> int:
        """A number in [low, high], both ends included."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[_T]) -> _T:
        """One element of a non-empty sequence."""
        return items[int(self.random() * len(items))]


# --- check digits -------------------------------------------------------------------------------


def mod11_check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    """Return the mod-11 check digit for `digits` (None when the remainder makes it invalid)."""
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return None if check == 10 else check


_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_BANK_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)


def is_valid_norwegian_org_number(value: str) -> bool:
    """True for a 9-digit Norwegian organisation number with a correct mod-11 check digit."""
    if len(value) != 9 or not value.isdigit():
        return False
    return mod11_check_digit(value[:8], _ORG_WEIGHTS) == int(value[8])


def is_valid_norwegian_bank_account(value: str) -> bool:
    """True for an 11-digit Norwegian account number (dots allowed) with a correct check digit."""
    digits = value.replace(".", "")
    if len(digits) != 11 or not digits.isdigit():
        return False
    return mod11_check_digit(digits[:10], _BANK_WEIGHTS) == int(digits[10])


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn (MOD10) check digit, as used by KID and Swedish org numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def _norwegian_org_number(rng: _FastRandom) -> str:
    while True:
        body = str(rng.pick((8, 9))) + f"{rng.below(10_000_000):07d}"
        check = mod11_check_digit(body, _ORG_WEIGHTS)
        if check is not None:
            return body + str(check)


def _swedish_org_number(rng: _FastRandom) -> str:
    body = "556" + f"{rng.below(1_000_000):06d}"
    return f"{body[:6]}-{body[6:]}{luhn_check_digit(body)}"


def _danish_cvr(rng: _FastRandom) -> str:
    while True:
        body = str(rng.between(1, 9)) + f"{rng.below(1_000_000):06d}"
        # The 8th digit makes the weighted sum divisible by 11 (weight 1).
        last = -sum(int(d) * w for d, w in zip(body, _CVR_WEIGHTS[:7], strict=True)) % 11
        if last < 10:
            return body + str(last)


def _bank_account(prefix10: str) -> str:
    check = mod11_check_digit(prefix10, _BANK_WEIGHTS)
    if check is None:
        msg = f"bank account prefix {prefix10} has no valid check digit"
        raise ValueError(msg)
    return prefix10 + str(check)


# The company's own accounts the customer pays into (two NOK, one EUR currency account).
NOK_BANK_ACCOUNTS = (_bank_account("1503123456"), _bank_account("1506987653"))
EUR_BANK_ACCOUNT = _bank_account("9710551233")


def dotted_account(number: str) -> str:
    """Write an 11-digit account number the way users type it: `1503.12.34567`."""
    return f"{number[:4]}.{number[4:6]}.{number[6:]}"


# --- money --------------------------------------------------------------------------------------


def round_half_up(value: Decimal) -> Decimal:
    """Round to øre, halves away from zero (what Fiken does per line)."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def line_vat(net: Decimal, percentage: Decimal) -> Decimal:
    """VAT of one line: round_half_up(net * rate, 2)."""
    return round_half_up(net * percentage / _HUNDRED)


# --- helpers ------------------------------------------------------------------------------------


def _quota(pool: list[int], rate: float, minimum: int = 1) -> set[int]:
    """Take a deterministic share of `pool` (at least `minimum` when rate > 0) out of it."""
    if rate <= 0 or not pool:
        return set()
    count = min(len(pool), max(minimum, round(len(pool) * rate)))
    taken = pool[:count]
    del pool[:count]
    return set(taken)


def _slug(name: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "ü": "u", "é": "e"})
    cleaned = name.lower().translate(table)
    return "-".join("".join(c if c.isalnum() else " " for c in cleaned).split())


def _local_date(epoch_us: int) -> date:
    return (
        _EPOCH + timedelta(microseconds=epoch_us + oslo_offset_hours(epoch_us) * _US_PER_HOUR)
    ).date()


@dataclass
class _Customer:
    index: int
    row: dict[str, Any]
    created_us: int
    foreign: bool
    terms_days: int
    contact: str | None


@dataclass
class _Project:
    row: dict[str, Any]
    created_us: int
    invoiceable: bool


class _Generator:
    """One generation run; state shared by the entity builders."""

    def __init__(
        self, n_invoices: int, seed: int, bad_rate: float, n_customers: int, n_projects: int
    ) -> None:
        self.rng = _FastRandom(seed)
        self.n_invoices = n_invoices
        self.bad_rate = bad_rate
        self.n_customers = n_customers
        self.n_projects = n_projects
        # Bulk-update instants: many rows share these exact lastModifiedDate values. The
        # accounting export marks invoices transferred every other week; mass edits of the
        # register (customers, projects) happen a few times over the timeline.
        self.export_us = self._bulk_instants(_SPAN_DAYS // 14 + 2)
        self.register_us = self._bulk_instants(3)
        self.stamp_cache: dict[int, str] = {}
        self.line_id = 310_000_000

    # timestamps -------------------------------------------------------------------------------

    def stamp(self, epoch_us: int) -> str:
        text = self.stamp_cache.get(epoch_us)
        if text is None:
            text = self.stamp_cache[epoch_us] = format_oslo(epoch_us)
        return text

    def _bulk_instants(self, count: int) -> list[int]:
        step = (_SPAN_DAYS + 30) // count
        return [
            _START_US + day * _US_PER_DAY + self.rng.below(9 * _US_PER_HOUR) // 1000 * 1000
            for day in range(step, step * count + 1, step)
        ]

    def modified_after(self, created_us: int, bulk_share: float, bulk_us: list[int]) -> int:
        """Pick a lastModifiedDate: the next bulk instant for some rows, a later edit for others."""
        roll = self.rng.random()
        if roll < bulk_share:
            i = bisect_right(bulk_us, created_us)
            if i < len(bulk_us):
                return bulk_us[i]
        if roll < bulk_share + 0.3:
            return created_us
        return created_us + self.rng.between(1, 3 * _US_PER_DAY) // 1000 * 1000

    def instant(self, fraction: float, jitter_hours: int = 8) -> int:
        """An instant `fraction` of the way through the timeline, during working hours."""
        day = int(fraction * _SPAN_DAYS)
        offset = self.rng.below(jitter_hours * _US_PER_HOUR) // 1000 * 1000
        return _START_US + day * _US_PER_DAY + offset

    # customers --------------------------------------------------------------------------------

    def customers(self) -> list[_Customer]:
        rng = self.rng
        # Customers 0 and 1 are the showcase names (æ, ø, å in any dataset); never foreign.
        pool = list(range(2, self.n_customers))
        rng.shuffle(pool)
        foreign = sorted(_quota(pool, 0.04, minimum=2)) if self.n_customers >= 5 else []
        # Alternate so that even a small dataset has both a Swedish and a Danish customer.
        countries = {index: ("SE", "DK")[n % 2] for n, index in enumerate(foreign)}
        inactive = _quota(pool, 0.06)
        no_org = _quota(pool, 0.03)
        used: set[str] = set()
        out: list[_Customer] = []
        row_id = 62_700_000
        for i in range(self.n_customers):
            row_id += rng.between(1, 3)
            created = _START_US if i == 0 else self.instant(0.8 * i / self.n_customers)
            country = countries.get(i, "NO")
            if i < len(_SHOWCASE_NAMES):
                name = _SHOWCASE_NAMES[i]
                used.add(name)
            else:
                name = self._customer_name(country, used)
            if country == "NO":
                org = None if i in no_org else _norwegian_org_number(rng)
                street = f"{rng.pick(_NO_STREETS)} {rng.between(1, 120)}"
                postal, city = rng.pick(_NO_POSTAL)
                domain = "no"
            else:
                streets, postals, _, _, _ = _FOREIGN[country]
                org = _swedish_org_number(rng) if country == "SE" else _danish_cvr(rng)
                street = f"{rng.pick(streets)} {rng.between(1, 80)}"
                postal, city = rng.pick(postals)
                domain = country.lower()
            has_address = rng.random() > 0.03
            email = None if rng.random() < 0.05 else f"post@{_slug(name)}.{domain}"
            number = str(10_000 + i + 1)
            row = model.customer(
                row_id=row_id,
                number=number,
                name=name,
                organization_number=org,
                email=email,
                postal_address=model.address(
                    street=street, postal_code=postal, city=city, country_code=country
                )
                if has_address
                else None,
                active=i not in inactive,
                external_ref=f"CRM-{rng.below(100_000):05d}" if rng.random() < 0.2 else None,
                created=self.stamp(created),
                last_modified=self.stamp(self.modified_after(created, 0.5, self.register_us)),
            )
            contact = None
            if rng.random() > 0.2:
                contact = f"{rng.pick(_FIRST_NAMES)} {rng.pick(_SURNAMES)}"
            out.append(
                _Customer(i, row, created, country != "NO", rng.pick((14, 14, 30, 10)), contact)
            )
        return out

    def _customer_name(self, country: str, used: set[str]) -> str:
        rng = self.rng
        name = ""
        for _ in range(10):
            if country != "NO":
                _, _, places, trades, form = _FOREIGN[country]
                name = f"{rng.pick(places)} {rng.pick(trades)} {form}"
            elif rng.random() < 0.7:
                name = f"{rng.pick(_PLACES)} {rng.pick(_TRADES)} {rng.pick(_COMPANY_FORMS)}"
            else:
                name = f"{rng.pick(_SURNAMES)} {rng.pick(_TRADES)} {rng.pick(_COMPANY_FORMS)}"
            if name not in used:
                break
        else:
            # Crowded name space (huge datasets): fall back to a numbered branch name.
            name = f"{name.rsplit(' ', 1)[0]} avd. {len(used) + 1} {name.rsplit(' ', 1)[1]}"
        used.add(name)
        return name

    # projects ---------------------------------------------------------------------------------

    def projects(self, customers: list[_Customer]) -> list[_Project]:
        rng = self.rng
        pool = list(range(self.n_projects))
        rng.shuffle(pool)
        waiting = _quota(pool, 0.08)
        internal = _quota(pool, 0.05)
        customer_created = [c.created_us for c in customers]
        used: set[str] = set()
        out: list[_Project] = []
        row_id = 62_800_000
        for k in range(self.n_projects):
            row_id += rng.between(1, 3)
            created = self.instant(0.85 * k / self.n_projects) + _US_PER_HOUR
            # Only customers that exist by now; customer 0 exists from the start.
            owner = customers[rng.below(max(1, bisect_right(customer_created, created)))]
            kind = rng.pick(_PROJECT_KINDS)
            year = _local_date(created).year
            number = str(20_000 + k + 1)
            if k in internal:
                name = f"Internt: {kind} {year}"
                customer_id, customer_number = None, None
            else:
                short = owner.row["name"].rsplit(" ", 1)[0]
                name = f"{kind} – {short} {year}"
                customer_id, customer_number = owner.row["id"], owner.row["customerNumber"]
            if name in used:
                name = f"{name} ({number})"
            used.add(name)
            planned = _local_date(created) + timedelta(days=rng.below(10))
            start: date | None = planned
            end: date | None = None
            if k in waiting:
                start, state = None, "notStarted"
            elif rng.random() < 0.3:
                end, state = planned + timedelta(days=rng.between(30, 299)), "completed"
            else:
                state = "inProgress"
            row = model.project(
                row_id=row_id,
                number=number,
                name=name,
                state=state,
                customer_id=customer_id,
                customer_number=customer_number,
                start_date=start.isoformat() if start else None,
                end_date=end.isoformat() if end else None,
                created=self.stamp(created),
                last_modified=self.stamp(self.modified_after(created, 0.4, self.register_us)),
            )
            out.append(_Project(row, created, start is not None and customer_id is not None))
        return out

    # invoices ---------------------------------------------------------------------------------

    def invoices(
        self, customers: list[_Customer], projects: list[_Project]
    ) -> list[dict[str, Any]]:
        rng = self.rng
        n = self.n_invoices
        pool = list(range(n))
        rng.shuffle(pool)
        bad = _quota(pool, self.bad_rate)
        drafts = _quota(pool, 0.05)
        do_not_transfer = _quota(pool, 0.03)
        # Credit notes need an earlier invoice, so never the very first one.
        credit = {i for i in _quota(pool, 0.03) if i > 0}
        eur_pool = [i for i in range(n) if i not in credit]
        rng.shuffle(eur_pool)
        eur = _quota(eur_pool, 0.02)

        by_customer_projects: dict[int, list[_Project]] = {}
        for p in projects:
            if p.invoiceable:
                by_customer_projects.setdefault(p.row["customerId"], []).append(p)
        foreign_customers = [c for c in customers if c.foreign]
        customer_created = [c.created_us for c in customers]
        # Finalized, good, not yet credited invoices: what a credit note may credit.
        creditable: list[tuple[_Customer, dict[str, Any]]] = []

        out: list[dict[str, Any]] = []
        row_id = 106_900_000
        for i in range(n):
            row_id += rng.between(1, 3)
            created = self.instant(0.03 + 0.95 * i / n)
            number = 10_001 + i
            if i in credit and creditable:
                cust, original = creditable.pop(rng.below(len(creditable)))
                out.append(self._credit_note(row_id, number, created, cust, original))
                continue
            known = max(1, bisect_right(customer_created, created))
            abroad = [c for c in foreign_customers if c.index < known] if i in eur else []
            cust = rng.pick(abroad) if abroad else customers[rng.below(known)]
            row = self._invoice(
                row_id,
                number,
                created,
                cust,
                by_customer_projects.get(cust.row["id"], []),
                is_bad=i in bad,
                is_draft=i in drafts and i not in bad,
                dont_transfer=i in do_not_transfer,
                eur=i in eur,
            )
            out.append(row)
            if i not in bad and row[model.INVOICE_STATE] == model.FINALIZED:
                creditable.append((cust, row))
        return out

    def _lines(self, foreign: bool, bad_kind: str | None) -> list[dict[str, Any]]:
        rng = self.rng
        count = rng.pick((1, 1, 2, 2, 3, 3, 3, 4))
        bad_at = rng.below(count) if bad_kind else -1
        lines = []
        for n in range(count):
            code = "6" if foreign else _weighted(rng, _DOMESTIC_VAT_WEIGHTS)
            vat = VAT_CLASSES[code]
            description = rng.pick(vat.descriptions)
            if description in _HOURLY:
                quantity = Decimal(rng.between(2, 150) * 25).scaleb(-2)  # 0.50 .. 37.50
                price = Decimal(650 + 5 * rng.below(240))
            else:  # goods, expenses
                quantity = Decimal(rng.between(1, 12))
                price = Decimal(rng.between(2_990, 299_900)).scaleb(-2)
            account, percentage = vat.account, vat.percentage
            vat_code: str | None = vat.code
            if n == bad_at and bad_kind == "unknown_account":
                account = UNKNOWN_IN_FIKEN_ACCOUNT
            elif n == bad_at and bad_kind == "no_vat_code":
                vat_code, percentage = None, Decimal(0)
            net = round_half_up(quantity * price)
            self.line_id += rng.between(1, 2)
            lines.append(
                model.invoice_line(
                    row_id=self.line_id,
                    line_number=n + 1,
                    description=description,
                    quantity=quantity,
                    unit_price=price.quantize(_CENT),
                    amount_excluding_vat=net,
                    vat_amount=line_vat(net, percentage),
                    account_number=account,
                    vat_code=vat_code,
                    vat_percentage=percentage,
                )
            )
        return lines

    def _invoice(
        self,
        row_id: int,
        number: int,
        created: int,
        cust: _Customer,
        cust_projects: list[_Project],
        *,
        is_bad: bool,
        is_draft: bool,
        dont_transfer: bool,
        eur: bool,
    ) -> dict[str, Any]:
        rng = self.rng
        bad_kind = rng.pick(("unknown_account", "no_vat_code")) if is_bad else None
        lines = self._lines(cust.foreign, bad_kind)
        net = sum((ln[model.AMOUNT_EXCLUDING_VAT] for ln in lines), Decimal("0.00"))
        vat = sum((ln[model.VAT_AMOUNT] for ln in lines), Decimal("0.00"))
        roundoff = Decimal("0.00")
        if not eur and rng.random() < 0.25:
            gross = net + vat
            roundoff = gross.quantize(_KRONE, rounding=ROUND_HALF_UP) - gross
        project = None
        eligible = [p for p in cust_projects if p.created_us < created]
        if eligible and rng.random() < 0.7:
            project = rng.pick(eligible)
        invoice_date = _local_date(created)
        state = model.DRAFT if is_draft else model.FINALIZED
        if dont_transfer:
            export = model.DO_NOT_TRANSFER
        elif state == model.FINALIZED and not is_bad and rng.random() < 0.12:
            export = model.TRANSFERRED
        else:
            export = model.TO_TRANSFER
        # The export marks transferred invoices in bulk: those share a lastModifiedDate.
        share = 1.0 if export == model.TRANSFERRED else 0.3
        modified = self.modified_after(created, share, self.export_us)
        customer_number = cust.row["customerNumber"]
        bank = EUR_BANK_ACCOUNT if eur else NOK_BANK_ACCOUNTS[0 if rng.random() < 0.8 else 1]
        if rng.random() < 0.1:
            bank = dotted_account(bank)
        kid_body = f"{customer_number}{number:07d}"
        month = f"{_MONTHS[invoice_date.month - 1]} {invoice_date.year}"
        return model.invoice(
            row_id=row_id,
            number=number,
            invoice_type=model.INVOICE,
            state=state,
            export_status=export,
            credited_invoice_number=None,
            customer_id=cust.row["id"],
            customer_number=customer_number,
            project_id=project.row["id"] if project else None,
            project_number=project.row["projectNumber"] if project else None,
            description=f"{project.row['name']}, {month}"
            if project
            else f"Arbeid utført i {month}",
            invoice_date=invoice_date.isoformat(),
            due_date=(invoice_date + timedelta(days=cust.terms_days)).isoformat(),
            payment_id=None
            if cust.foreign or rng.random() < 0.1
            else kid_body + str(luhn_check_digit(kid_body)),
            currency_code="EUR" if eur else "NOK",
            currency_rate=Decimal(rng.between(112_000, 119_000)).scaleb(-4) if eur else Decimal(1),
            your_reference=cust.contact,
            their_reference=f"{rng.pick(_FIRST_NAMES)} {rng.pick(_SURNAMES)}"
            if rng.random() < 0.6
            else None,
            bank_account_number=bank,
            amount_excluding_vat=net,
            vat_amount=vat,
            amount_roundoff=roundoff,
            total_amount=net + vat + roundoff,
            lines=lines,
            external_ref=None if rng.random() < 0.9 else f"PO-{rng.between(10_000, 99_999)}",
            created=self.stamp(created),
            last_modified=self.stamp(modified),
        )

    def _credit_note(
        self, row_id: int, number: int, created: int, cust: _Customer, original: dict[str, Any]
    ) -> dict[str, Any]:
        """A full credit of `original`: same lines and currency, every amount negated."""
        lines = []
        for ln in original[model.LINES]:
            self.line_id += 1
            net = -ln[model.AMOUNT_EXCLUDING_VAT]
            lines.append(
                model.invoice_line(
                    row_id=self.line_id,
                    line_number=ln["lineNumber"],
                    description=ln["description"],
                    quantity=-ln["quantity"],
                    unit_price=ln["unitPrice"],
                    amount_excluding_vat=net,
                    vat_amount=line_vat(net, ln[model.VAT_PERCENTAGE]),
                    account_number=ln[model.ACCOUNT_NUMBER],
                    vat_code=ln[model.VAT_CODE],
                    vat_percentage=ln[model.VAT_PERCENTAGE],
                )
            )
        invoice_date = _local_date(created)
        net, vat = -original[model.AMOUNT_EXCLUDING_VAT], -original[model.VAT_AMOUNT]
        roundoff = -original[model.AMOUNT_ROUNDOFF]
        return model.invoice(
            row_id=row_id,
            number=number,
            invoice_type=model.CREDIT_NOTE,
            state=model.FINALIZED,
            export_status=model.TO_TRANSFER,
            credited_invoice_number=original[model.INVOICE_NUMBER],
            customer_id=cust.row["id"],
            customer_number=cust.row["customerNumber"],
            project_id=original["projectId"],
            project_number=original["projectNumber"],
            description=f"Kreditnota for faktura {original[model.INVOICE_NUMBER]}",
            invoice_date=invoice_date.isoformat(),
            due_date=invoice_date.isoformat(),
            payment_id=None,
            currency_code=original["currencyCode"],
            currency_rate=original["currencyRate"],
            your_reference=original["yourReference"],
            their_reference=original["theirReference"],
            bank_account_number=original["bankAccountNumber"],
            amount_excluding_vat=net,
            vat_amount=vat,
            amount_roundoff=roundoff,
            total_amount=net + vat + roundoff,
            lines=lines,
            external_ref=None,
            created=self.stamp(created),
            last_modified=self.stamp(self.modified_after(created, 0.3, self.export_us)),
        )

    def financial_accounts(self) -> list[dict[str, Any]]:
        return [
            model.financial_account(
                row_id=113_540 + i, account_number=acc, name=name, vat_code=code, active=True
            )
            for i, (acc, name, code) in enumerate(FINANCIAL_ACCOUNTS)
        ]


def _weighted(rng: _FastRandom, choices: tuple[tuple[str, int], ...]) -> str:
    total = sum(w for _, w in choices)
    roll = rng.below(total)
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    raise AssertionError("unreachable: roll < total")


def generate_dataset(
    n_invoices: int,
    seed: int = 1,
    *,
    bad_rate: float = 0.01,
    n_customers: int | None = None,
    n_projects: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Generate a deterministic Moment dataset.

    Args:
        n_invoices: number of invoices (credit notes included).
        seed: random seed; the same arguments give a byte-identical dataset.
        bad_rate: share of invoices with one bad line (unknown account or no VAT code), 0..1.
        n_customers: defaults to about one customer per 15 invoices (at least 5).
        n_projects: defaults to 1.5 projects per customer.

    Returns:
        `{"customers": [...], "projects": [...], "invoices": [...], "financialAccounts": [...]}`
        with money as `Decimal`.
    """
    if n_invoices < 0:
        msg = f"n_invoices must be >= 0, got {n_invoices}"
        raise ValueError(msg)
    if not 0 <= bad_rate <= 1 or math.isnan(bad_rate):
        msg = f"bad_rate must be between 0 and 1, got {bad_rate}"
        raise ValueError(msg)
    customers_count = n_customers if n_customers is not None else max(5, n_invoices // 15)
    projects_count = n_projects if n_projects is not None else customers_count * 3 // 2
    if customers_count < 1 or projects_count < 0:
        msg = "n_customers must be >= 1 and n_projects >= 0"
        raise ValueError(msg)
    gen = _Generator(n_invoices, seed, bad_rate, customers_count, projects_count)
    customers = gen.customers()
    projects = gen.projects(customers)
    invoices = gen.invoices(customers, projects)
    return {
        model.CUSTOMERS: [c.row for c in customers],
        model.PROJECTS: [p.row for p in projects],
        model.INVOICES: invoices,
        model.FINANCIAL_ACCOUNTS: gen.financial_accounts(),
    }
