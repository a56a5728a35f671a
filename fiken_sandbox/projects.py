"""/companies/{slug}/projects: needs the project module; unique names and numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

from .contacts import contact_view
from .context import Ctx, read_json
from .errors import ApiError, bad_request, not_found
from .paging import parse_bool
from .responses import json_response, located, no_content, paged
from .store import Store
from .validation import PROJECT_REQUEST, UPDATE_PROJECT_REQUEST, check_body, drop_nulls

KIND = "projects"
FIRST_PROJECT_ID = 7_000_001
_CLEARABLE = ("description", "endDate", "contactId")


def require_module(ctx: Ctx) -> None:
    """402 when the company has not activated Fiken's project module."""
    if not ctx.company.get("projectModule", True):
        raise ApiError(
            402,
            "module_not_activated",
            f"The project module is not active for company {ctx.slug!r}. "
            "Activate it in Fiken under Oversikt -> Prosjekter.",
        )


def _find(ctx: Ctx, project_id: int) -> dict[str, Any]:
    record = ctx.store.get_object(ctx.slug, KIND, project_id)
    if record is None:
        raise not_found(f"project {project_id} not found")
    return record


def _view(ctx: Ctx, record: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in record.items() if k != "contactId"}
    view.setdefault("completed", False)
    contact_id = record.get("contactId")
    if contact_id is not None:
        contact = ctx.store.get_object(ctx.slug, "contacts", contact_id)
        if contact is not None:
            view["contact"] = contact_view(contact)
    return view


def _check_rules(
    store: Store, slug: str, record: Mapping[str, Any], project_id: int | None
) -> None:
    """Unique name and number (names: Moment docs; numbers: UNCONFIRMED), dates, contact."""
    for other in store.list_objects(slug, KIND):
        if other["projectId"] == project_id:
            continue
        if other["name"].casefold() == record["name"].casefold():
            raise bad_request(
                f"project: a project named {record['name']!r} already exists "
                f"(projectId {other['projectId']}); project names must be unique"
            )
        if other["number"] == record["number"]:
            raise bad_request(
                f"project: project number {record['number']!r} is already used by project "
                f"{other['projectId']}; project numbers must be unique"
            )
    end = record.get("endDate")
    if end is not None and end < record["startDate"]:
        raise bad_request(f"project: endDate {end} is before startDate {record['startDate']}")
    contact_id = record.get("contactId")
    if contact_id is not None and store.get_object(slug, "contacts", contact_id) is None:
        raise bad_request(f"project: field 'contactId': contact {contact_id} does not exist")


def insert(store: Store, slug: str, body: Any) -> int:
    """Validate and store a new project (API POST and seed data); answers its projectId."""
    fields = check_body(body, PROJECT_REQUEST, "project")
    with store.write():
        _check_rules(store, slug, fields, None)
        project_id = store.next_value("global", "projectId", FIRST_PROJECT_ID)
        store.put_object(slug, KIND, project_id, {"projectId": project_id, **fields})
    return project_id


def create(ctx: Ctx) -> Response:
    """POST projectRequest: 201, Location, empty body."""
    require_module(ctx)
    project_id = insert(ctx.store, ctx.slug, read_json(ctx.request))
    return located(ctx.url("projects", project_id))


def update(ctx: Ctx, project_id: int) -> Response:
    """PATCH updateProjectRequest (partial; null clears an optional field).

    The spec documents 201 + Location for this operation, so that is what we answer.
    """
    require_module(ctx)
    raw = read_json(ctx.request, keep_nulls=True)
    if isinstance(raw, dict) and "number" in raw:
        raise bad_request(
            "project: field 'number' cannot be changed after creation "
            "(updateProjectRequest has no number)"
        )
    if isinstance(raw, dict):
        for key in ("name", "startDate", "completed"):
            if key in raw and raw[key] is None:
                raise bad_request(f"project: field {key!r} cannot be null")
    body = check_body(drop_nulls(raw), UPDATE_PROJECT_REQUEST, "project")
    with ctx.store.write():
        record = dict(_find(ctx, project_id))
        record.update(body)
        for key in _CLEARABLE:
            if key in raw and raw[key] is None:
                record.pop(key, None)
        _check_rules(ctx.store, ctx.slug, record, project_id)
        ctx.store.put_object(ctx.slug, KIND, project_id, record)
    return located(ctx.url("projects", project_id))


def get(ctx: Ctx, project_id: int) -> Response:
    """GET one projectResult (with the full ``contact`` when one is linked)."""
    require_module(ctx)
    return json_response(_view(ctx, _find(ctx, project_id)))


def delete(ctx: Ctx, project_id: int) -> Response:
    """DELETE: 204."""
    require_module(ctx)
    with ctx.store.write():
        _find(ctx, project_id)
        ctx.store.delete_object(ctx.slug, KIND, project_id)
    return no_content()


def list_(ctx: Ctx) -> Response:
    """GET list; filters completed, name (case-insensitive exact), number (exact)."""
    require_module(ctx)
    args = ctx.request.args
    completed = parse_bool(args, "completed")
    name = args.get("name")
    number = args.get("number")
    records = [
        r
        for r in ctx.store.list_objects(ctx.slug, KIND)
        if (completed is None or bool(r.get("completed", False)) == completed)
        and (name is None or r["name"].casefold() == name.casefold())
        and (number is None or r["number"] == number)
    ]
    return paged(args, (_view(ctx, r) for r in records))
