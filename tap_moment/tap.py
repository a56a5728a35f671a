"""TapMoment: the Singer tap for Moment (customers, projects, invoices, financial accounts)."""

from __future__ import annotations

import copy
import gc
import sys
from typing import IO, TYPE_CHECKING, Any

import requests
from singer_sdk import Tap
from singer_sdk.io_base import SingerWriter

from tap_moment.client import CLEAR_ERRORS
from tap_moment.jsonio import MsgspecSingerWriter, flush_writers
from tap_moment.jsonio import available as writer_available
from tap_moment.settings import CONFIG_SCHEMA
from tap_moment.streams import STREAM_TYPES

if TYPE_CHECKING:
    from singer_sdk.plugin_base import _ConfigInput
    from singer_sdk.streams import Stream


class TapMoment(Tap):
    """Singer tap for Moment: customers, projects, invoices (lines nested), financial accounts."""

    name = "tap-moment"
    package_name = "moment-fiken"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    # Same JSON, ~8x faster to produce (see jsonio.py); singer-sdk's writer without msgspec.
    message_writer_class = MsgspecSingerWriter if writer_available() else SingerWriter

    def discover_streams(self) -> list[Stream]:
        """Return one instance of each Moment stream."""
        return [stream_class(tap=self) for stream_class in STREAM_TYPES]

    @property
    def streams(self) -> dict[str, Stream]:
        """The streams in dependency order, which is also the order they are synced in.

        singer-sdk's (final) `load_streams` sorts by name, which would send invoices before the
        projects they refer to. A target that books an invoice needs its customer and project
        first, so keep the order of STREAM_TYPES: customers, projects, financial_accounts,
        invoices.
        """
        loaded = super().streams
        order = {str(cls.name): i for i, cls in enumerate(STREAM_TYPES)}  # type: ignore[misc]
        if list(loaded) != sorted(loaded, key=lambda name: order.get(name, len(order))):
            self._streams = dict(
                sorted(loaded.items(), key=lambda item: order.get(item[0], len(order)))
            )
        return self._streams  # type: ignore[return-value]

    @classmethod
    def invoke(
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run the tap; a Moment error ends it with one clear log line and exit code 1.

        The SDK would otherwise log the error with a full traceback. Every message caught here
        is built by tap_moment (status and path only), so it carries no secret.
        """
        # Everything imported so far lives as long as the process: move it out of the garbage
        # collector's sight (https://docs.python.org/3/library/gc.html#gc.freeze), so that the
        # full collections a large sync triggers do not walk it again and again (measured in
        # benchmarks/bench_tap.py: ~5 % of the CLI's CPU).
        gc.freeze()
        try:
            try:
                super().invoke(
                    about=about,
                    about_format=about_format,
                    config=config,
                    state=state,
                    catalog=catalog,
                    **kwargs,
                )
            finally:
                # After an error, RECORD lines still queued in the writer (no STATE followed
                # them) reach the target, as they would have with singer-sdk's writer.
                flush_writers()
        except CLEAR_ERRORS as exc:
            cls.logger.error("%s", exc)  # one line on purpose, no traceback
            sys.exit(1)
        except requests.RequestException as exc:
            # Connection errors after the last retry; the text holds host and path, no secrets.
            cls.logger.error("could not reach Moment: %s", type(exc).__name__)
            sys.exit(1)


if __name__ == "__main__":
    TapMoment.cli()
