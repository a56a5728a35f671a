"""`python -m tap_moment` runs the tap's CLI."""

from __future__ import annotations

from tap_moment.tap import TapMoment

TapMoment.cli()
