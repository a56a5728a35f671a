"""The built-in Norwegian chart of accounts (NS 4102 style names, as Fiken shows them).

3050 is deliberately absent: the Moment data generator books bad rows on it, and the
sandbox must reject them as Fiken would for an account the company does not have.
"""

from __future__ import annotations

import re

STANDARD_CHART: dict[str, str] = {
    "1200": "Maskiner og anlegg",
    "1250": "Inventar",
    "1400": "Varelager",
    "1500": "Kundefordringer",
    "1570": "Andre kortsiktige fordringer",
    "1580": "Avsetning for tap på kundefordringer",
    "1900": "Kontanter",
    "1920": "Bankinnskudd",
    "1950": "Bankinnskudd for skattetrekk",
    "2000": "Aksjekapital",
    "2050": "Annen egenkapital",
    "2380": "Kassekreditt",
    "2400": "Leverandørgjeld",
    "2600": "Forskuddstrekk",
    "2700": "Utgående merverdiavgift",
    "2710": "Inngående merverdiavgift",
    "2740": "Oppgjørskonto merverdiavgift",
    "2770": "Skyldig arbeidsgiveravgift",
    "2800": "Avsatt utbytte",
    "2930": "Skyldig lønn",
    "2990": "Annen kortsiktig gjeld",
    "3000": "Salgsinntekt, avgiftspliktig",
    "3020": "Salgsinntekt tjenester, avgiftspliktig",
    "3030": "Salgsinntekt, avgiftspliktig, lav sats",
    "3100": "Salgsinntekt, avgiftsfri",
    "3200": "Salgsinntekt, utenfor avgiftsområdet",
    "3400": "Offentlig tilskudd/refusjon",
    "3600": "Leieinntekt fast eiendom",
    "3900": "Annen driftsrelatert inntekt",
    "4000": "Innkjøp av varer for videresalg",
    "4300": "Innkjøp av varer for videresalg, avgiftsfri",
    "5000": "Lønn til ansatte",
    "5400": "Arbeidsgiveravgift",
    "6000": "Avskrivning på varige driftsmidler",
    "6300": "Leie lokale",
    "6340": "Lys, varme",
    "6540": "Inventar",
    "6700": "Revisjons- og regnskapshonorar",
    "6800": "Kontorrekvisita",
    "6900": "Telefon",
    "7100": "Bilgodtgjørelse",
    "7140": "Reisekostnad, ikke oppgavepliktig",
    "7320": "Reklamekostnad",
    "7500": "Forsikringspremie",
    "7740": "Øreavrunding",
    "7770": "Bank- og kortgebyrer",
    "7790": "Annen kostnad",
    "8040": "Renteinntekt",
    "8060": "Valutagevinst (agio)",
    "8140": "Rentekostnad",
    "8160": "Valutatap (disagio)",
    "8800": "Årsresultat",
}

#: "4 digits" or "4 digits:5 digits" (a reskontro sub-account), per the spec's Account type.
ACCOUNT_CODE = re.compile(r"^\d{4}(:\d{5})?$")


def is_account_code(value: str) -> bool:
    """Whether ``value`` has the shape of a Fiken account code."""
    return bool(ACCOUNT_CODE.match(value))
