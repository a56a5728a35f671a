"""Conformance tests of fiken_sandbox over real HTTP: paging, contacts, projects, bank
accounts, accounts, companies and error answers (journal entries, OAuth, limits and faults
have their own test_fiken_sandbox_*.py files)."""

from __future__ import annotations

import pytest
import requests

from fiken_sandbox import FikenSandbox
from fiken_sandbox.chart import STANDARD_CHART
from fiken_sandbox.context import today

TOKEN = "sandbox-personal-token"


@pytest.fixture
def co(fs) -> str:
    return fs.api_url + "/companies/demo-as"


def post_id(api: requests.Session, url: str, body: dict) -> int:
    response = api.post(url, json=body)
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


# -- paging -------------------------------------------------------------------------------


def test_default_page_is_25_with_headers(api, co):
    response = api.get(co + "/accounts")
    assert response.status_code == 200
    total = len(STANDARD_CHART)
    assert len(response.json()) == 25
    assert response.headers["Fiken-Api-Page"] == "0"
    assert response.headers["Fiken-Api-Page-Size"] == "25"
    assert response.headers["Fiken-Api-Result-Count"] == str(total)
    assert response.headers["Fiken-Api-Page-Count"] == str(-(-total // 25))


def test_pages_are_zero_based_and_cover_everything_once(api, co):
    seen: list[str] = []
    page = 0
    while True:
        response = api.get(co + "/accounts", params={"page": page, "pageSize": 10})
        assert response.headers["Fiken-Api-Page"] == str(page)
        assert response.headers["Fiken-Api-Page-Size"] == "10"
        seen += [a["code"] for a in response.json()]
        if page + 1 >= int(response.headers["Fiken-Api-Page-Count"]):
            break
        page += 1
    assert seen == sorted(STANDARD_CHART)
    first = api.get(co + "/accounts", params={"page": 0, "pageSize": 10}).json()
    assert first[0]["code"] == sorted(STANDARD_CHART)[0]


def test_paging_needs_both_parameters(api, co):
    only_size = api.get(co + "/accounts", params={"pageSize": 100})
    assert len(only_size.json()) == 25
    assert only_size.headers["Fiken-Api-Page-Size"] == "25"
    only_page = api.get(co + "/accounts", params={"page": 1})
    assert only_page.headers["Fiken-Api-Page"] == "0"
    assert only_page.json() == api.get(co + "/accounts").json()


def test_page_size_over_100_is_refused(api, co):
    response = api.get(co + "/accounts", params={"page": 0, "pageSize": 101})
    assert response.status_code == 400
    assert "pageSize" in response.json()["error_description"]
    assert api.get(co + "/accounts", params={"page": 0, "pageSize": 100}).status_code == 200


@pytest.mark.parametrize(("page", "size"), [("-1", "10"), ("0", "0"), ("x", "10")])
def test_bad_paging_values_are_refused(api, co, page, size):
    assert api.get(co + "/accounts", params={"page": page, "pageSize": size}).status_code == 400


def test_page_past_the_end_is_an_empty_array(api, co):
    response = api.get(co + "/accounts", params={"page": 99, "pageSize": 100})
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["Fiken-Api-Result-Count"] == str(len(STANDARD_CHART))


# -- contacts -----------------------------------------------------------------------------


def test_contact_post_is_201_with_absolute_location_and_empty_body(api, co):
    response = api.post(co + "/contacts", json={"name": "Kunde AS"})
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["Location"]
    assert location.startswith(co + "/contacts/")
    contact = api.get(location).json()
    assert contact["name"] == "Kunde AS"
    assert contact["contactId"] == int(location.rsplit("/", 1)[1])
    assert contact["customer"] is False
    assert "customerNumber" not in contact


def test_customer_numbers_and_subledger_accounts_are_assigned(api, co):
    first = post_id(api, co + "/contacts", {"name": "A AS", "customer": True})
    plain = post_id(api, co + "/contacts", {"name": "B AS"})
    second = post_id(api, co + "/contacts", {"name": "C AS", "customer": True})
    a, b, c = (api.get(f"{co}/contacts/{i}").json() for i in (first, plain, second))
    assert (a["customerNumber"], a["customerAccountCode"]) == (10001, "1500:10001")
    assert (c["customerNumber"], c["customerAccountCode"]) == (10002, "1500:10002")
    assert "customerAccountCode" not in b
    account = api.get(co + "/accounts/1500:10002")
    assert account.status_code == 200
    assert account.json() == {"code": "1500:10002", "name": "C AS"}
    codes = [x["code"] for x in api.get(co + "/accounts", params={"range": "1500"}).json()]
    assert codes == ["1500", "1500:10001", "1500:10002"]


def test_supplier_gets_2400_subaccount(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Lev AS", "supplier": True})
    contact = api.get(f"{co}/contacts/{cid}").json()
    assert contact["supplierAccountCode"] == f"2400:{contact['supplierNumber']}"
    assert api.get(co + "/accounts/" + contact["supplierAccountCode"]).status_code == 200


def test_write_only_fields_are_filterable_but_never_returned(api, co, fs):
    cid = post_id(
        api,
        co + "/contacts",
        {"name": "Kunde AS", "memberNumberString": "MOM-42", "phoneNumber": "+4799999999"},
    )
    post_id(api, co + "/contacts", {"name": "Annen AS", "memberNumberString": "MOM-43"})
    found = api.get(co + "/contacts", params={"memberNumberString": "MOM-42"}).json()
    assert [c["contactId"] for c in found] == [cid]
    for contact in (found[0], api.get(f"{co}/contacts/{cid}").json()):
        assert "memberNumberString" not in contact
        assert "phoneNumber" not in contact
    assert api.get(co + "/contacts", params={"memberNumberString": "mom-42"}).json() == []
    stored = next(c for c in fs.objects("demo-as")["contacts"] if c["contactId"] == cid)
    assert stored["memberNumberString"] == "MOM-42"


def test_name_email_and_org_filters_are_case_insensitive_exact(api, co):
    cid = post_id(
        api,
        co + "/contacts",
        {"name": "Fjord Bygg AS", "email": "Post@Fjord.no", "organizationNumber": "912345678"},
    )
    post_id(api, co + "/contacts", {"name": "Fjord Bygg AS Avd Bergen"})
    for params in (
        {"name": "fjord bygg as"},
        {"email": "post@fjord.no"},
        {"organizationNumber": "912345678"},
    ):
        assert [c["contactId"] for c in api.get(co + "/contacts", params=params).json()] == [cid]
    assert api.get(co + "/contacts", params={"name": "Fjord"}).json() == []


def test_boolean_and_number_filters(api, co):
    customer = post_id(api, co + "/contacts", {"name": "K", "customer": True})
    post_id(api, co + "/contacts", {"name": "L", "supplier": True, "inactive": True})
    ids = [c["contactId"] for c in api.get(co + "/contacts", params={"customer": "true"}).json()]
    assert ids == [customer]
    assert len(api.get(co + "/contacts", params={"inactive": "false"}).json()) == 1
    by_number = api.get(co + "/contacts", params={"customerNumber": 10001}).json()
    assert [c["contactId"] for c in by_number] == [customer]
    assert api.get(co + "/contacts", params={"customer": "yes"}).status_code == 400


def test_put_is_a_full_replacement(api, co, fs):
    cid = post_id(
        api,
        co + "/contacts",
        {"name": "Kunde AS", "email": "a@b.no", "customer": True, "memberNumberString": "M1"},
    )
    response = api.put(
        f"{co}/contacts/{cid}", json={"name": "Kunde Nytt Navn AS", "customer": True}
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Location"] == f"{co}/contacts/{cid}"
    contact = api.get(f"{co}/contacts/{cid}").json()
    assert contact["name"] == "Kunde Nytt Navn AS"
    assert "email" not in contact
    assert contact["customerNumber"] == 10001  # Fiken keeps the number it assigned
    stored = next(c for c in fs.objects("demo-as")["contacts"] if c["contactId"] == cid)
    assert "memberNumberString" not in stored  # writeOnly fields are cleared unless re-sent
    assert api.get(co + "/contacts", params={"memberNumberString": "M1"}).json() == []


@pytest.mark.parametrize(
    "field", ["customerNumber", "customerAccountCode", "contactId", "createdDate"]
)
def test_put_with_read_only_fields_is_refused(api, co, field):
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS", "customer": True})
    contact = api.get(f"{co}/contacts/{cid}").json()
    body = {"name": "Kunde AS", "customer": True, field: contact[field]}
    response = api.put(f"{co}/contacts/{cid}", json=body)
    assert response.status_code == 400
    assert field in response.json()["error_description"]
    assert "read-only" in response.json()["error_description"]


def test_put_needs_a_name_and_an_existing_contact(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS"})
    assert api.put(f"{co}/contacts/{cid}", json={"email": "x@y.no"}).status_code == 400
    assert api.put(f"{co}/contacts/{cid + 1000}", json={"name": "X"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "X", "colour": "blue"}, "colour"),
        ({"name": "X", "address": {"city": "Oslo"}}, "country"),
        ({"name": ""}, "name"),
        ({"name": "X" * 201}, "name"),
        ({"name": "X", "customer": "yes"}, "customer"),
        ({"name": "X", "currency": "nok"}, "currency"),
        ({"name": "X", "contactPerson": [{"name": "Ola"}]}, "email"),
    ],
)
def test_bad_contact_bodies_are_refused_naming_the_field(api, co, body, needle):
    response = api.post(co + "/contacts", json=body)
    assert response.status_code == 400
    assert needle in response.json()["error_description"]
    assert api.get(co + "/contacts").json() == []


def test_address_with_country_is_accepted(api, co):
    address = {
        "streetAddress": "Storgata 1",
        "postCode": "0155",
        "city": "Oslo",
        "country": "Norge",
    }
    cid = post_id(api, co + "/contacts", {"name": "X", "address": address})
    assert api.get(f"{co}/contacts/{cid}").json()["address"] == address


def test_delete_contact(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS"})
    response = api.delete(f"{co}/contacts/{cid}")
    assert response.status_code == 204
    assert api.get(f"{co}/contacts/{cid}").status_code == 404


def test_delete_contact_in_use_sets_it_inactive(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS", "customer": True})
    entry = {
        "journalEntries": [
            {
                "description": "Faktura 1",
                "date": "2025-01-31",
                "lines": [{"amount": 1000, "debitAccount": "1500:10001", "creditAccount": "3100"}],
            }
        ]
    }
    assert api.post(co + "/generalJournalEntries", json=entry).status_code == 201
    response = api.delete(f"{co}/contacts/{cid}")
    assert response.status_code == 200
    assert response.json()["inactive"] is True
    assert api.get(f"{co}/contacts/{cid}").json()["inactive"] is True


def test_contacts_sort_by(api, co):
    ids = [post_id(api, co + "/contacts", {"name": n}) for n in ("A", "B", "C")]
    desc = api.get(co + "/contacts", params={"sortBy": "createdDate desc"}).json()
    assert [c["contactId"] for c in desc] == ids[::-1]
    assert api.get(co + "/contacts", params={"sortBy": "name asc"}).status_code == 400


# -- projects -----------------------------------------------------------------------------

PROJECT = {"number": "P-1", "name": "Nytt bygg", "startDate": "2025-01-01"}


def test_project_create_get_and_contact_object(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS", "customer": True})
    response = api.post(co + "/projects", json={**PROJECT, "contactId": cid})
    assert response.status_code == 201
    assert response.content == b""
    project = api.get(response.headers["Location"]).json()
    assert project["number"] == "P-1"
    assert project["name"] == "Nytt bygg"
    assert project["completed"] is False
    assert project["contact"]["contactId"] == cid
    assert project["contact"]["customerAccountCode"] == "1500:10001"
    assert "contactId" not in project


@pytest.mark.parametrize("missing", ["number", "name", "startDate"])
def test_project_required_fields(api, co, missing):
    body = {k: v for k, v in PROJECT.items() if k != missing}
    response = api.post(co + "/projects", json=body)
    assert response.status_code == 400
    assert missing in response.json()["error_description"]


def test_project_names_are_unique(api, co):
    post_id(api, co + "/projects", PROJECT)
    response = api.post(co + "/projects", json={**PROJECT, "number": "P-2", "name": "nytt BYGG"})
    assert response.status_code == 400
    assert "unique" in response.json()["error_description"]
    assert "nytt BYGG" in response.json()["error_description"]


def test_project_numbers_are_unique(api, co):
    post_id(api, co + "/projects", PROJECT)
    response = api.post(co + "/projects", json={**PROJECT, "name": "Annet"})
    assert response.status_code == 400
    assert "number" in response.json()["error_description"]


def test_project_patch_is_201_and_number_is_immutable(api, co):
    pid = post_id(api, co + "/projects", PROJECT)
    response = api.patch(f"{co}/projects/{pid}", json={"number": "P-9"})
    assert response.status_code == 400
    assert "number" in response.json()["error_description"]
    response = api.patch(f"{co}/projects/{pid}", json={"completed": True, "endDate": "2025-06-30"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["Location"] == f"{co}/projects/{pid}"
    project = api.get(f"{co}/projects/{pid}").json()
    assert (project["completed"], project["endDate"], project["number"]) == (
        True,
        "2025-06-30",
        "P-1",
    )
    api.patch(f"{co}/projects/{pid}", json={"endDate": None})
    assert "endDate" not in api.get(f"{co}/projects/{pid}").json()


def test_project_patch_cannot_steal_a_name(api, co):
    post_id(api, co + "/projects", PROJECT)
    other = post_id(api, co + "/projects", {**PROJECT, "number": "P-2", "name": "Annet"})
    assert api.patch(f"{co}/projects/{other}", json={"name": "Nytt bygg"}).status_code == 400


def test_project_filters_and_delete(api, co):
    first = post_id(api, co + "/projects", PROJECT)
    second = post_id(
        api, co + "/projects", {**PROJECT, "number": "P-2", "name": "B", "completed": True}
    )
    assert [p["projectId"] for p in api.get(co + "/projects", params={"number": "P-2"}).json()] == [
        second
    ]
    done = api.get(co + "/projects", params={"completed": "true"}).json()
    assert [p["projectId"] for p in done] == [second]
    assert api.delete(f"{co}/projects/{first}").status_code == 204
    assert api.get(f"{co}/projects/{first}").status_code == 404


def test_project_end_before_start_and_unknown_contact(api, co):
    assert api.post(co + "/projects", json={**PROJECT, "endDate": "2024-12-31"}).status_code == 400
    assert api.post(co + "/projects", json={**PROJECT, "contactId": 1}).status_code == 400
    assert (
        api.post(co + "/projects", json={**PROJECT, "startDate": "01.01.2025"}).status_code == 400
    )


def test_project_module_off_gives_402(api, co, fs):
    fs.set_company("demo-as", projectModule=False)
    for response in (api.get(co + "/projects"), api.post(co + "/projects", json=PROJECT)):
        assert response.status_code == 402
        assert "module" in response.json()["error_description"]
    assert api.get(co + "/contacts").status_code == 200


# -- API module, auth, media types ---------------------------------------------------------


def test_api_module_off_gives_403_everywhere_but_the_company_itself(api, co, fs):
    fs.set_company("demo-as", hasApiAccess=False)
    for path in ("/contacts", "/accounts", "/bankAccounts", "/journalEntries", "/projects"):
        response = api.get(co + path)
        assert response.status_code == 403, path
        assert response.json()["error_description"] == "API module not activated"
    company = api.get(co)
    assert company.status_code == 200
    assert company.json()["hasApiAccess"] is False


def test_missing_or_bad_token_is_401(fs, co):
    assert requests.get(co + "/contacts", timeout=5).status_code == 401
    bad = requests.get(co + "/contacts", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401
    assert "nope" not in bad.text


def test_non_json_body_is_415_and_broken_json_400(api, co):
    assert api.post(co + "/contacts", data="name=X").status_code == 415
    response = api.post(
        co + "/contacts", data="{broken", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert api.post(co + "/contacts", json=["not", "an", "object"]).status_code == 400


def test_unknown_company_and_foreign_company(tmp_path):
    seed = {
        "companies": [{"slug": "a-as", "name": "A AS"}, {"slug": "b-as", "name": "B AS"}],
        "personal_tokens": {"tok-a": ["a-as"]},
    }
    with FikenSandbox(tmp_path, seed=seed, limits=False) as sandbox:
        headers = {"Authorization": "Bearer tok-a"}
        base = sandbox.api_url + "/companies/"
        assert requests.get(base + "nope/contacts", headers=headers, timeout=5).status_code == 404
        assert requests.get(base + "b-as/contacts", headers=headers, timeout=5).status_code == 403
        companies = requests.get(sandbox.api_url + "/companies", headers=headers, timeout=5)
        assert [c["slug"] for c in companies.json()] == ["a-as"]
        assert companies.headers["Fiken-Api-Result-Count"] == "1"


def test_user_and_company(api, fs, co):
    assert set(api.get(fs.api_url + "/user").json()) == {"name", "email"}
    company = api.get(co).json()
    assert company["slug"] == "demo-as"
    assert company["testCompany"] is True
    assert "projectModule" not in company


def test_unknown_route_is_404(api, co):
    assert api.get(co + "/nothing-here").status_code == 404


# -- bank accounts and accounts -------------------------------------------------------------

BANK = {"name": "Driftskonto", "bankAccountNumber": "12345678903", "type": "normal"}


def test_bank_accounts_get_assigned_1920_codes(api, co):
    first = post_id(api, co + "/bankAccounts", BANK)
    second = post_id(
        api,
        co + "/bankAccounts",
        {"name": "Skattetrekk", "bankAccountNumber": "12345678911", "type": "TAX_DEDUCTION"},
    )
    a = api.get(f"{co}/bankAccounts/{first}").json()
    b = api.get(f"{co}/bankAccounts/{second}").json()
    assert (a["accountCode"], b["accountCode"]) == ("1920:10001", "1920:10002")
    assert b["type"] == "tax_deduction"
    assert api.get(co + "/accounts/1920:10002").json()["name"] == "Skattetrekk"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"bankAccountNumber": "1234 56 78903"}, "bankAccountNumber"),
        ({"bankAccountNumber": "123456789031"}, "bankAccountNumber"),
        ({"type": "savings"}, "type"),
        ({"accountCode": "1920:10001"}, "accountCode"),
    ],
)
def test_bad_bank_accounts_are_refused(api, co, change, needle):
    response = api.post(co + "/bankAccounts", json={**BANK, **change})
    assert response.status_code == 400
    assert needle in response.json()["error_description"]


def test_bank_accounts_cannot_be_changed(api, co):
    bid = post_id(api, co + "/bankAccounts", BANK)
    for method in ("PUT", "PATCH", "DELETE"):
        response = api.request(method, f"{co}/bankAccounts/{bid}", json=BANK)
        assert response.status_code == 405, method
        assert "GET" in response.headers["Allow"]


def test_bank_account_inactive_filter(api, co):
    post_id(api, co + "/bankAccounts", BANK)
    post_id(api, co + "/bankAccounts", {**BANK, "name": "Gammel", "inactive": True})
    active = api.get(co + "/bankAccounts", params={"inactive": "false"}).json()
    assert [b["name"] for b in active] == ["Driftskonto"]


def test_accounts_chart(api, co):
    assert api.get(co + "/accounts/7740").json() == {"code": "7740", "name": "Øreavrunding"}
    assert api.get(co + "/accounts/3050").status_code == 404
    assert api.get(co + "/accounts/1500:10001").status_code == 404
    assert api.post(co + "/accounts", json={"code": "3050"}).status_code == 405
    ranged = api.get(co + "/accounts", params={"fromAccount": 3000, "toAccount": 3099}).json()
    assert [a["code"] for a in ranged] == ["3000", "3020", "3030"]


def test_seeded_chart_replaces_the_standard_one(tmp_path):
    seed = {
        "companies": [{"slug": "x", "name": "X AS"}],
        "personal_tokens": {"t": ["x"]},
        "accounts": {"1920": "Bank", "3000": "Salg"},
    }
    with FikenSandbox(tmp_path, seed=seed, limits=False) as sandbox:
        response = requests.get(
            sandbox.api_url + "/companies/x/accounts",
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
        assert [a["code"] for a in response.json()] == ["1920", "3000"]


def test_customer_number_is_assigned_when_a_contact_becomes_a_customer(api, co):
    cid = post_id(api, co + "/contacts", {"name": "Prospekt AS"})
    assert "customerNumber" not in api.get(f"{co}/contacts/{cid}").json()
    assert api.put(f"{co}/contacts/{cid}", json={"name": "Prospekt AS", "customer": True}).ok
    contact = api.get(f"{co}/contacts/{cid}").json()
    assert contact["customerAccountCode"] == "1500:10001"


def test_contact_date_filters(api, co):
    post_id(api, co + "/contacts", {"name": "A"})
    day = today()
    assert len(api.get(co + "/contacts", params={"createdDate": day}).json()) == 1
    assert api.get(co + "/contacts", params={"createdDateLt": day}).json() == []
    assert len(api.get(co + "/contacts", params={"lastModifiedGe": day}).json()) == 1
    assert api.get(co + "/contacts", params={"lastModifiedGt": day}).json() == []
    assert api.get(co + "/contacts", params={"createdDate": "i dag"}).status_code == 400


def test_contact_persons_get_ids(api, co):
    person = {"name": "Ola Nordmann", "email": "ola@example.no"}
    cid = post_id(api, co + "/contacts", {"name": "Kunde AS", "contactPerson": [person]})
    [stored] = api.get(f"{co}/contacts/{cid}").json()["contactPerson"]
    assert stored == {**person, "contactPersonId": stored["contactPersonId"]}
    assert isinstance(stored["contactPersonId"], int)
