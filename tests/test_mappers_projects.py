"""Moment project -> Fiken projectRequest / updateProjectRequest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from target_fiken.mappers.common import MappingError, Waiting
from target_fiken.mappers.projects import project_to_request, project_to_update


def project(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 5,
        "projectNumber": "P-100",
        "name": "Bygging av bryggerhus på Ås",
        "projectState": "inProgress",
        "customerId": 12,
        "customerNumber": "10001",
        "startDate": "2026-02-01",
        "endDate": "2026-06-30",
    }
    base.update(changes)
    return base


def test_project_request_has_number_name_dates_contact_and_state():
    assert project_to_request(project(), contact_id=73408306) == {
        "number": "P-100",
        "name": "Bygging av bryggerhus på Ås",
        "startDate": "2026-02-01",
        "endDate": "2026-06-30",
        "contactId": 73408306,
        "completed": False,
    }


@pytest.mark.parametrize(
    ("changes", "contact_id", "expected_subset", "absent"),
    [
        ({"projectState": "completed"}, None, {"completed": True}, ["contactId"]),
        ({"projectState": "notStarted"}, 1, {"completed": False, "contactId": 1}, []),
        ({"endDate": None}, None, {"startDate": "2026-02-01"}, ["endDate"]),
        (
            {"startDate": dt.date(2026, 2, 1), "endDate": dt.datetime(2026, 2, 1, 23, 59)},
            None,
            {"startDate": "2026-02-01", "endDate": "2026-02-01"},
            [],
        ),
        ({"projectNumber": 4711}, None, {"number": "4711"}, []),
    ],
)
def test_project_request_variants(changes, contact_id, expected_subset, absent):
    body = project_to_request(project(**changes), contact_id=contact_id)
    for key, value in expected_subset.items():
        assert body[key] == value
    for key in absent:
        assert key not in body
    assert None not in body.values()


@pytest.mark.parametrize("start", [None, "", "  "])
def test_project_without_start_date_waits(start):
    with pytest.raises(Waiting) as wait:
        project_to_request(project(startDate=start), contact_id=None)
    assert wait.value.code == "waiting_start_date"
    assert "project P-100" in wait.value.message


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"projectNumber": None}, "missing_field", "projectNumber"),
        ({"name": " "}, "missing_field", "name"),
        ({"startDate": "01.02.2026"}, "bad_date", "startDate"),
        ({"endDate": "2026-01-31"}, "bad_date_range", "endDate"),
    ],
)
def test_project_refusals(changes, code, field):
    with pytest.raises(MappingError) as err:
        project_to_request(project(**changes), contact_id=None)
    assert (err.value.code, err.value.field) == (code, field)
    assert "project" in err.value.message


def test_contact_id_must_be_an_integer():
    with pytest.raises(MappingError) as err:
        project_to_request(project(), contact_id="73408306")  # type: ignore[arg-type]
    assert err.value.code == "bad_field"


def test_update_has_no_number_and_keeps_the_rest():
    update = project_to_update(project(projectState="completed"), contact_id=9)
    request = project_to_request(project(projectState="completed"), contact_id=9)
    assert "number" not in update
    assert update == {k: v for k, v in request.items() if k != "number"}


def test_update_without_start_date_leaves_dates_out_instead_of_waiting():
    update = project_to_update(project(startDate=None, endDate=None), contact_id=None)
    assert update == {"name": "Bygging av bryggerhus på Ås", "completed": False}
