"""The tap's settings, declared once.

`meltano.yml` and `.env.example` mirror this list (`TAP_MOMENT_<SETTING>`);
`tests/test_settings_drift.py` fails when they drift apart.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

DEFAULT_BASE_URL = "https://app.moment.team"
MAX_PAGE_SIZE = 500  # Moment serves at most 500 rows per page.

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType(nullable=False),
        required=True,
        secret=True,
        title="Moment API key",
        description="API key from Moment (Company -> API keys). Sent as HTTP Basic auth with "
        "user `apikey`. Keys expire after at most 2 years.",
    ),
    th.Property(
        "company_code",
        th.StringType(nullable=False),
        required=True,
        title="Company code",
        description="The Moment company (database) to read, as it appears in Moment's URLs "
        "after logging in (e.g. `cloudware`).",
    ),
    th.Property(
        "base_url",
        th.URIType,
        default=DEFAULT_BASE_URL,
        title="Moment base URL",
        description="Root of the Moment API host. Only change it to point at moment-sandbox.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="Read only invoices changed at or after this instant on the first run "
        "(ISO 8601; without an offset it is taken as UTC). Customers and projects are always "
        "read from the beginning on a first run, so every invoice's customer reaches the target. "
        "Later runs resume from the state.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
        default=MAX_PAGE_SIZE,
        title="Page size",
        description="Rows per request (1-500). Keep the default unless debugging.",
    ),
).to_dict()
