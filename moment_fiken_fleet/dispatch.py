"""Which pending webhook events become which Dagster run requests (pure decisions).

Per tenant, each sensor tick:

1. Every run of the sync job carries the tag `moment_fiken/through_event`: the newest event id
   that existed when the run was requested. A run that exists has been accepted, so every
   pending event up to its mark is dispatched to it (the newest such run wins).
2. Events left: if a run of the tenant is still queued (not started), it will read Moment after
   these events arrived, so they are dispatched to it too: no new request.
3. Otherwise one run request covers them all (a burst of 200 events is one run), keyed
   `<tenant>:<newest id>` so that asking twice is one run. The events are *claimed* at once (the
   receiver then stores the same notice anew, since the run may read Moment before it), and
   marked dispatched on a later tick, once Dagster has created the run: events are never marked
   dispatched for a request that was not accepted; an unaccepted one is asked for again.

So a tenant has at most one active and one queued run: events that arrive during a run cause
exactly one follow-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["queued", "active", "done"]
THROUGH_TAG = "moment_fiken/through_event"
TRIGGER_TAG = "moment_fiken/trigger"
PARTITION_TAG = "dagster/partition"  # set by Dagster on every partitioned run: the tenant id


@dataclass(frozen=True)
class RunView:
    """What the sensor needs to know about one existing run of a tenant."""

    run_id: str
    phase: Phase
    through: int | None  # the run's THROUGH_TAG, if any


@dataclass(frozen=True)
class Decision:
    """What to do for one tenant this tick."""

    marks: list[tuple[int, str]] = field(default_factory=list)  # (through id, run id)
    request_through: int | None = None  # request a run covering events up to this id


def decide(pending_max: int, runs: Sequence[RunView]) -> Decision:
    """Decide for one tenant with pending events (newest pending id `pending_max`)."""
    marks: list[tuple[int, str]] = []
    marked = [r for r in runs if r.through is not None]
    covered = 0
    if marked:
        best = max(marked, key=lambda r: (r.through or 0, r.phase == "queued"))
        covered = best.through or 0
        marks.append((covered, best.run_id))
    if pending_max <= covered:
        return Decision(marks)
    waiting = next((r for r in runs if r.phase == "queued"), None)
    if waiting is not None:
        marks.append((pending_max, waiting.run_id))
        return Decision(marks)
    return Decision(marks, request_through=pending_max)


def run_key(tenant: str, through: int) -> str:
    """The run request's key: one run per tenant and newest event."""
    return f"{tenant}:{through}"
