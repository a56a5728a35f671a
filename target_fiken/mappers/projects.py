"""Moment project -> Fiken ``projectRequest`` (POST) and ``updateProjectRequest`` (PATCH).

Fiken needs a start date to take a project at all, so a Moment project without one is not an
error but ``Waiting``: it goes to Fiken once Moment gives it a start date. Fiken's project number
cannot be changed after creation (``updateProjectRequest`` has no ``number``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from target_fiken.mappers.common import MappingError, Waiting, fiken_date, optional_text


def project_record_name(project: Mapping[str, Any]) -> str:
    """How messages name a project: ``project P-100`` (or its id when unnumbered)."""
    number = optional_text(project.get("projectNumber"))
    return f"project {number}" if number else f"project id {project.get('id')}"


def _common(project: Mapping[str, Any], *, contact_id: int | None) -> dict[str, Any]:
    """Fields shared by the POST and PATCH bodies (start date handled by the callers)."""
    record = project_record_name(project)
    name = optional_text(project.get("name"))
    if name is None:
        raise MappingError("missing_field", f"{record}: name is missing.", "name")
    body: dict[str, Any] = {"name": name}

    start = project.get("startDate")
    end = project.get("endDate")
    start_text = None
    if start is not None and not (isinstance(start, str) and not start.strip()):
        start_text = fiken_date(start, field="startDate", record=record)
        body["startDate"] = start_text
    if end is not None and not (isinstance(end, str) and not end.strip()):
        end_text = fiken_date(end, field="endDate", record=record)
        # ISO dates compare correctly as text.
        if start_text is not None and end_text < start_text:
            raise MappingError(
                "bad_date_range",
                f"{record}: endDate {end_text} is before startDate {start_text}.",
                "endDate",
            )
        body["endDate"] = end_text
    if contact_id is not None:
        if isinstance(contact_id, bool) or not isinstance(contact_id, int):
            raise MappingError(
                "bad_field", f"{record}: the Fiken contact id is not an integer.", "customerId"
            )
        body["contactId"] = contact_id
    body["completed"] = project.get("projectState") == "completed"
    return body


def project_to_request(project: Mapping[str, Any], *, contact_id: int | None) -> dict[str, Any]:
    """Build the POST ``projectRequest``: number, name, startDate, endDate, contactId, completed.

    Args:
        project: a Moment ``projects`` record.
        contact_id: the Fiken contactId of the project's customer, if it has one.

    Raises:
        Waiting: ``waiting_start_date`` when Moment has no start date yet.
        MappingError: missing number or name, bad dates, end before start.
    """
    record = project_record_name(project)
    number = optional_text(project.get("projectNumber"))
    if number is None:
        raise MappingError("missing_field", f"{record}: projectNumber is missing.", "projectNumber")
    body = _common(project, contact_id=contact_id)
    if "startDate" not in body:
        raise Waiting(
            "waiting_start_date",
            f"{record} has no start date in Moment; Fiken needs one, so it waits until it is set.",
        )
    return {"number": number, **body}


def project_to_update(project: Mapping[str, Any], *, contact_id: int | None) -> dict[str, Any]:
    """Build the PATCH ``updateProjectRequest`` (no ``number``: Fiken's number is immutable).

    A start or end date removed in Moment is left out (PATCH keeps Fiken's value): Fiken cannot
    hold a project without a start date, and clearing a field through PATCH is undocumented.

    Args:
        project: a Moment ``projects`` record.
        contact_id: the Fiken contactId of the project's customer, if it has one.

    Raises:
        MappingError: missing name, bad dates, end before start.
    """
    return _common(project, contact_id=contact_id)
