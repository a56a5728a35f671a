"""The sandbox's in-memory tables: pre-serialised rows, pre-sorted for fast paging.

Each table keeps every row as ready-made JSON bytes plus two sorted indexes: by id, and by
(lastModifiedDate instant, id). A page is a bisect (for `lastModifiedDateFrom`) plus a slice and a
join of bytes, so a 500-row page costs a few milliseconds even with 100,000 invoices. Rows are
parsed back only to apply an update.

Paging is plain Spring offset paging, on purpose: a row updated while a client pages moves to the
end of the `lastModifiedDate` order, so the client may see it twice, and rows behind it shift one
place forward (the contract's "must tolerate seeing a row twice and must not skip one" is the
reader's job; the sandbox reproduces what makes it necessary).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from moment_sandbox import codec, model
from moment_sandbox.clock import format_oslo, now_us, parse_instant

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 20  # Spring Data's default when `size` is absent
_MS = 1000  # microseconds


class RowNotFoundError(LookupError):
    """No row with that id in that entity."""


class BadRowError(ValueError):
    """A row or change that the sandbox cannot store (message names entity, id and field)."""


@dataclass
class PageRequest:
    """A validated list query."""

    page: int = 0
    size: int = DEFAULT_PAGE_SIZE
    modified_from_us: int | None = None
    sort_field: str = model.ID  # model.ID or model.LAST_MODIFIED
    descending: bool = False


@dataclass
class _Table:
    entity: str
    timestamped: bool
    blobs: dict[int, bytes] = field(default_factory=dict)
    by_id: list[int] = field(default_factory=list)
    by_modified: list[tuple[int, int]] = field(default_factory=list)
    modified_us: dict[int, int] = field(default_factory=dict)


def _row_id(entity: str, row: Mapping[str, Any], where: str) -> int:
    row_id = row.get(model.ID)
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        msg = f"{entity} {where}: field {model.ID!r} must be an integer, got {row_id!r}"
        raise BadRowError(msg)
    return row_id


def _instant(entity: str, row_id: object, key: str, value: object) -> int:
    if not isinstance(value, str):
        msg = f"{entity} id={row_id}: field {key!r} must be an ISO 8601 string, got {value!r}"
        raise BadRowError(msg)
    try:
        return parse_instant(value)
    except ValueError as exc:
        msg = f"{entity} id={row_id}: field {key!r}: {exc}"
        raise BadRowError(msg) from None


def _window(total: int, first: int, size: int, descending: bool) -> tuple[int, int]:
    """Return the [lo, hi) slice of an ascending list that holds one page."""
    if not descending:
        return min(first, total), min(first + size, total)
    hi = max(total - first, 0)
    return max(hi - size, 0), hi


class Store:
    """All entity tables of one sandbox, guarded by one lock."""

    def __init__(self, data: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        unknown = sorted(set(data) - set(model.ENTITIES))
        if unknown:
            known = ", ".join(model.ENTITIES)
            msg = f"unknown entities in data: {', '.join(unknown)}; known: {known}"
            raise BadRowError(msg)
        self._lock = threading.Lock()
        self._last_stamp_us = 0
        self._tables: dict[str, _Table] = {}
        for entity in model.ENTITIES:
            table = _Table(entity, entity in model.TIMESTAMPED)
            for index, row in enumerate(data.get(entity, ())):
                if not isinstance(row, Mapping):
                    msg = f"{entity}[{index}]: expected an object, got {type(row).__name__}"
                    raise BadRowError(msg)
                row_id = _row_id(entity, row, f"[{index}]")
                if row_id in table.blobs:
                    msg = f"{entity}[{index}]: duplicate {model.ID} {row_id}"
                    raise BadRowError(msg)
                self._index(table, row_id, row)
            table.by_id.sort()
            table.by_modified.sort()
            self._tables[entity] = table

    # helpers (call with the lock held, or during __init__) -------------------------------------

    def _table(self, entity: str) -> _Table:
        table = self._tables.get(entity)
        if table is None:
            msg = f"unknown entity {entity!r}; known: {', '.join(model.ENTITIES)}"
            raise RowNotFoundError(msg)
        return table

    def _index(self, table: _Table, row_id: int, row: Mapping[str, Any]) -> None:
        """Serialise a new row and add it to the indexes (unsorted appends; caller sorts)."""
        modified = None
        if table.timestamped:
            modified = _instant(
                table.entity, row_id, model.LAST_MODIFIED, row.get(model.LAST_MODIFIED)
            )
            _instant(table.entity, row_id, model.CREATED, row.get(model.CREATED))
        blob = self._serialise(table.entity, row_id, row)
        if modified is not None:
            table.modified_us[row_id] = modified
            table.by_modified.append((modified, row_id))
        table.blobs[row_id] = blob
        table.by_id.append(row_id)

    @staticmethod
    def _serialise(entity: str, row_id: int, row: Mapping[str, Any]) -> bytes:
        try:
            return codec.dump_bytes(row)
        except (TypeError, ValueError) as exc:
            msg = f"{entity} id={row_id}: {exc}"
            raise BadRowError(msg) from None

    def _next_stamp(self, table: _Table) -> int:
        """Now, but strictly after every stamp issued and every row of the table (ms steps)."""
        latest = table.by_modified[-1][0] if table.by_modified else 0
        stamp = max(now_us(), self._last_stamp_us + _MS, latest // _MS * _MS + _MS)
        self._last_stamp_us = stamp
        return stamp

    # reads ------------------------------------------------------------------------------------

    def page(self, entity: str, request: PageRequest) -> bytes:
        """Return one Spring page `{"content":[...],"page":{...}}` as JSON bytes."""
        size = min(request.size, MAX_PAGE_SIZE)
        with self._lock:
            table = self._table(entity)
            by_modified = table.timestamped and request.sort_field == model.LAST_MODIFIED
            start = 0
            if table.timestamped and request.modified_from_us is not None:
                # (t,) sorts before every (t, id): the filter is inclusive.
                start = bisect_left(table.by_modified, (request.modified_from_us,))
            if by_modified:
                # Slice the sorted (instant, id) index directly: no per-request copy of it.
                total = len(table.by_modified) - start
                lo, hi = _window(total, request.page * size, size, request.descending)
                chosen = [row_id for _, row_id in table.by_modified[start + lo : start + hi]]
            else:
                ids = (
                    sorted(row_id for _, row_id in table.by_modified[start:])
                    if start
                    else table.by_id
                )
                total = len(ids)
                lo, hi = _window(total, request.page * size, size, request.descending)
                chosen = ids[lo:hi]
            if request.descending:
                chosen.reverse()
            content = b",".join([table.blobs[row_id] for row_id in chosen])
        pages = -(-total // size)
        meta = (
            f'],"page":{{"number":{request.page},"size":{size},'
            f'"totalElements":{total},"totalPages":{pages}}}}}'
        )
        return b'{"content":[' + content + meta.encode()

    def get(self, entity: str, row_id: int) -> dict[str, Any]:
        """Return one row (money as Decimal)."""
        with self._lock:
            blob = self._table(entity).blobs.get(row_id)
        if blob is None:
            msg = f"no {entity} row with id {row_id}"
            raise RowNotFoundError(msg)
        return codec.loads(blob)

    def rows(self, entity: str) -> list[dict[str, Any]]:
        """Return all rows of an entity in id order (money as Decimal)."""
        with self._lock:
            table = self._table(entity)
            blobs = [table.blobs[row_id] for row_id in table.by_id]
        return [codec.loads(blob) for blob in blobs]

    def write_dataset(self, stream: BinaryIO) -> None:
        """Write the whole dataset as one JSON document, rows in id order.

        Streams the ready-made row bytes instead of serialising the rows again.
        """
        with self._lock:
            snapshot = [
                (entity, [table.blobs[row_id] for row_id in table.by_id])
                for entity, table in self._tables.items()
            ]
        stream.write(b"{")
        for n, (entity, blobs) in enumerate(snapshot):
            stream.write(b'%s"%s":[' % (b"," if n else b"", entity.encode()))
            for k, blob in enumerate(blobs):
                if k:
                    stream.write(b",")
                stream.write(blob)
            stream.write(b"]")
        stream.write(b"}")

    # writes -----------------------------------------------------------------------------------

    def update(self, entity: str, row_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a row (shallow) and bump its lastModifiedDate to now.

        A `lastModifiedDate` inside `changes` is used as given (it must carry an offset).
        """
        if not isinstance(changes, Mapping):
            msg = f"{entity} id={row_id}: changes must be an object, got {type(changes).__name__}"
            raise BadRowError(msg)
        if model.ID in changes and changes[model.ID] != row_id:
            msg = f"{entity} id={row_id}: field {model.ID!r} cannot be changed"
            raise BadRowError(msg)
        with self._lock:
            table = self._table(entity)
            blob = table.blobs.get(row_id)
            if blob is None:
                msg = f"no {entity} row with id {row_id}"
                raise RowNotFoundError(msg)
            row = codec.loads(blob)
            row.update(codec.loads(codec.dumps(dict(changes))))  # deep copy, Decimal money
            if table.timestamped:
                if model.LAST_MODIFIED in changes:
                    stamp = _instant(
                        entity, row_id, model.LAST_MODIFIED, changes[model.LAST_MODIFIED]
                    )
                else:
                    stamp = self._next_stamp(table)
                    row[model.LAST_MODIFIED] = format_oslo(stamp)
                _instant(entity, row_id, model.CREATED, row.get(model.CREATED))
            new_blob = self._serialise(entity, row_id, row)
            if table.timestamped:
                old = (table.modified_us[row_id], row_id)
                del table.by_modified[bisect_left(table.by_modified, old)]
                insort(table.by_modified, (stamp, row_id))
                table.modified_us[row_id] = stamp
            table.blobs[row_id] = new_blob
        return row

    def add(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add a row: lastModifiedDate = now (createdDate too, if absent); no id -> max(id) + 1."""
        if not isinstance(record, Mapping):
            msg = f"{entity}: a new row must be an object, got {type(record).__name__}"
            raise BadRowError(msg)
        row: dict[str, Any] = codec.loads(codec.dumps(dict(record)))
        with self._lock:
            table = self._table(entity)
            if row.get(model.ID) is None:
                row[model.ID] = (table.by_id[-1] + 1) if table.by_id else 1
            row_id = _row_id(entity, row, "(new row)")
            if row_id in table.blobs:
                msg = f"{entity}: a row with {model.ID} {row_id} exists already"
                raise BadRowError(msg)
            if table.timestamped:
                # Always "now", even for a copied row, so incremental readers see the new row.
                stamp = format_oslo(self._next_stamp(table))
                row[model.LAST_MODIFIED] = stamp
                if row.get(model.CREATED) is None:
                    row[model.CREATED] = stamp
            before = len(table.by_modified)
            self._index(table, row_id, row)
            # _index appended; move the new entries to their sorted places.
            insort(table.by_id, table.by_id.pop())
            if len(table.by_modified) > before:
                insort(table.by_modified, table.by_modified.pop())
        return row
