"""Moment projects -> Fiken projects: POST once, PATCH when the mapping changed.

Natural key: the project number. A project without a start date waits (Fiken requires one).
Project names are unique in Fiken, so a name another project uses is refused before writing.
"""

from __future__ import annotations

from typing import Any

from target_fiken.context import RecordRejected
from target_fiken.entities.base import Adopted, ChangePolicy, Entity, Plan, Sent, fingerprint_of
from target_fiken.entities.streams import CUSTOMERS, PROJECTS
from target_fiken.ledger import Status
from target_fiken.mappers.projects import project_to_request, project_to_update
from target_fiken.matching import AmbiguousMatch, find_project

HAS_FIKEN_OBJECT = (Status.DONE, Status.REJECTED, Status.WAITING)


class Projects(Entity):
    """Moment projects as Fiken projects."""

    stream = PROJECTS
    kind = "project"
    collection = "/projects"
    policy = ChangePolicy.PATCH

    def what(self, record: dict[str, Any]) -> str:
        """`project P-101`."""
        return f"project {self.number(record) or record.get('id')}"

    def number(self, record: dict[str, Any]) -> str | None:
        """Moment's project number."""
        value = record.get("projectNumber")
        return None if value is None else str(value)

    def _contact_id(self, record: dict[str, Any]) -> int | None:
        if record.get("customerId") is None:
            return None
        contacts = self.engine.entities[CUSTOMERS]
        cid, _ = contacts.resolve(  # type: ignore[attr-defined]
            record["customerId"], record.get("customerNumber"), self.what(record)
        )
        return int(cid) if cid.isdigit() else None

    def plan(self, record: dict[str, Any]) -> Plan:
        """The PATCH body (its hash is the fingerprint); the POST body is built on create."""
        update = project_to_update(record, contact_id=self._contact_id(record))
        return Plan(
            body=None,
            update=update,
            fingerprint=fingerprint_of(update),
            natural_key=self.number(record) or "",
            what=self.what(record),
        )

    def create_body(self, record: dict[str, Any], plan: Plan) -> dict[str, Any]:
        """The POST body; raises Waiting without a start date."""
        contact_id = plan.update.get("contactId") if plan.update else None
        return project_to_request(record, contact_id=contact_id)

    def find(self, sent: Sent) -> dict[str, Any] | None:
        """The project with the number that was sent (asked of Fiken, not the cache)."""
        number = sent.key("projectNumber")
        return find_project(self.ctx.client, number) if number else None

    def found_ids(self, found: dict[str, Any]) -> tuple[str, str | None]:
        """(projectId, None)."""
        return str(found["projectId"]), None

    def adopt(self, record: dict[str, Any], plan: Plan) -> Adopted | None:
        """A project Fiken had before us: by number, then exact name; PATCH when it differs.

        Its number stays as Fiken has it (a project's number cannot change); the rest follows
        Moment.
        """
        try:
            match = self.engine.adoption.project_for(record, PROJECTS)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{plan.what}: {exc.candidates('projects')}; none was adopted. Tell them apart "
                "in Fiken and the next run adopts the right one.",
                field="projectNumber",
            ) from exc
        if match is None:
            return None
        existing, rule = match
        assert plan.update is not None
        update = plan.update if _project_differs(existing, plan.update) else None
        if update is not None:
            self.ctx.refs.remember_project({**existing, **update})
        return Adopted(
            fiken_id=str(existing["projectId"]), fiken_ref=None, rule=rule, update=update
        )

    def check(self, plan: Plan, fiken_id: str | None) -> None:
        """Project names are unique in Fiken: refuse a name another project uses."""
        name = (plan.update or {}).get("name")
        if not name:
            return
        others = [
            p
            for p in self.ctx.refs.projects_named(str(name))
            if fiken_id is None or str(p.get("projectId")) != fiken_id
        ]
        if others:
            numbers = ", ".join(str(p.get("number")) for p in others)
            raise RecordRejected(
                "duplicate_project_name",
                f"{plan.what}: its name is already used by Fiken project {numbers}; project "
                "names must be unique in Fiken. Rename one of them.",
                field="name",
            )

    def written(
        self,
        record: dict[str, Any] | None,
        body: dict[str, Any] | None,
        fiken_id: str,
        fiken_ref: str | None,  # noqa: ARG002 - the hook's shape
        how: str,  # noqa: ARG002
    ) -> str | None:
        """Keep the run's project list in step (names are checked against it)."""
        number = self.number(record) if record is not None else None
        self.ctx.refs.remember_project(
            {
                "projectId": int(fiken_id) if fiken_id.isdigit() else fiken_id,
                "number": number,
                **(body or {}),
            }
        )
        return None

    def resolve(self, project_id: Any, project_number: Any, what: str) -> None:
        """Check that an invoice's project is in Fiken (ledger, then the project list)."""
        row = self.engine.settled_row(PROJECTS, str(project_id))
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            return
        if project_number and self.ctx.refs.project_by_number(str(project_number)) is not None:
            return
        raise RecordRejected(
            "project_not_transferred",
            f"{what}: project {project_number or project_id} is not in Fiken yet (waiting for "
            "a start date, rejected or not transferred); the invoice is retried on the next run.",
            field="projectId",
        )


def _project_differs(existing: dict[str, Any], update_body: dict[str, Any]) -> bool:
    contact = existing.get("contact") or {}
    current = {
        "name": existing.get("name"),
        "startDate": existing.get("startDate"),
        "endDate": existing.get("endDate"),
        "contactId": contact.get("contactId", existing.get("contactId")),
        "completed": bool(existing.get("completed")),
    }
    return any(current.get(k) != v for k, v in update_body.items())
