"""Imports through the partner API: create, upload in parts, complete, the dry run and its
bad rows, commit exactly that dry run; scoped to the partner, refused with problem
details otherwise."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from programs.imports.commits import import_commit
from programs.models import ImportJob, ImportStatus
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports"
MEMBERS = (
    b"external_id;email;first_name;opening_balance\n"
    b"K-1;anna@example.org;Anna;100\n"
    b"K-2;not-an-address;Bernd;50\n"  # line 3: bad e-mail
    b"K-3;carla@example.org;Carla;\n"
)


def create(client, **fields):
    body = {"kind": "members", "program": "treue", "file_name": "mitglieder.csv", **fields}
    return client.post(URL, body, format="json")


def put_part(client, url, data):
    return client.put(url, data, content_type="application/octet-stream")


def upload_in_two_parts(client, content=MEMBERS):
    """A staged upload, completed; returns the answer of ``complete``."""
    job = create(client).json()
    half = len(content) // 2
    assert put_part(client, job["upload_url"] + "/1", content[:half]).status_code == 204
    assert put_part(client, job["upload_url"] + "/2", content[half:]).status_code == 204
    return client.post(f"{URL}/{job['id']}/complete")


def send_file(client, content=MEMBERS, **fields):
    body = {
        "kind": "members",
        "program": "treue",
        "file": SimpleUploadedFile("mitglieder.csv", content, "text/csv"),
        **fields,
    }
    return client.post(URL, body, format="multipart")


def test_create_answers_an_upload_url(api):
    response = create(api)

    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "uploading"
    assert job["upload_url"] == f"http://testserver{URL}/{job['id']}/parts"
    assert response["Location"] == f"{URL}/{job['id']}"
    assert job["same_file"] is False


def test_whole_flow_upload_dry_run_errors_commit(api):
    completed = upload_in_two_parts(api)

    assert completed.status_code == 200, completed.json()
    job = completed.json()
    assert job["status"] == "checked"
    assert job["upload_url"] is None
    assert job["summary"]["rows"] == 3
    assert job["summary"]["valid"] == 2
    assert job["summary"]["actions"] == {"create": 2}
    assert job["summary"]["points"] == 100
    assert (job["rows_total"], job["rows_error"]) == (3, 1)
    assert len(job["plan_digest"]) == 64
    assert api.get(f"{URL}/{job['id']}").json()["plan_digest"] == job["plan_digest"]

    errors = api.get(job["links"]["errors"]).json()
    assert [(e["line"], e["column"], e["phase"]) for e in errors["results"]] == [
        (3, "email", "check")
    ]
    assert errors["results"][0]["message"]
    assert api.get("/api/v1/members/K-1").status_code == 404  # a dry run writes nothing

    committed = api.post(job["links"]["commit"], {"plan_digest": job["plan_digest"]})

    assert committed.status_code == 202, committed.json()
    assert committed.json()["status"] == "committing"
    import_commit(job["id"])  # what the worker does
    done = api.get(f"{URL}/{job['id']}").json()
    assert done["status"] == "done"
    assert done["rows_done"] == 3
    assert done["percent"] == 100
    anna = api.get("/api/v1/members/K-1")
    assert anna.status_code == 200
    assert anna.json()["memberships"][0]["available"] == 100
    assert api.get("/api/v1/members/K-3").status_code == 200
    assert_problem(api.get("/api/v1/members/K-2"), 404, "member_not_found")


def test_a_whole_small_file_in_one_request(api):
    response = send_file(api)

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "checked"
    assert response.json()["summary"]["valid"] == 2


def test_program_by_id(api, program):
    response = create(api, program=program.pk)

    assert response.status_code == 201, response.json()
    assert response.json()["program"] == "treue"


def test_commit_with_another_digest_is_a_conflict(api):
    job = upload_in_two_parts(api).json()

    response = api.post(job["links"]["commit"], {"plan_digest": "0" * 64})

    body = assert_problem(response, 409, "import_conflict")
    assert "renewed" in body["detail"]
    assert ImportJob.objects.get(pk=job["id"]).status == ImportStatus.CHECKED


def test_commit_before_the_dry_run_is_a_conflict(api):
    job = create(api).json()

    response = api.post(job["links"]["commit"], {"plan_digest": "0" * 64})

    assert_problem(response, 409, "import_conflict")


def test_another_partner_never_sees_the_import(api, api_b):
    job = upload_in_two_parts(api).json()
    staged = create(api).json()

    assert_problem(api_b.get(f"{URL}/{job['id']}"), 404, "import_not_found")
    assert_problem(api_b.get(f"{URL}/{job['id']}/errors"), 404, "import_not_found")
    assert_problem(
        api_b.post(f"{URL}/{job['id']}/commit", {"plan_digest": job["plan_digest"]}),
        404,
        "import_not_found",
    )
    assert_problem(api_b.post(f"{URL}/{job['id']}/cancel"), 404, "import_not_found")
    assert_problem(put_part(api_b, staged["upload_url"] + "/1", b"x"), 404, "import_not_found")
    assert_problem(api_b.post(f"{URL}/{staged['id']}/complete"), 404, "import_not_found")
    assert api_b.get(URL).json()["results"] == []
    assert ImportJob.objects.get(pk=job["id"]).status == ImportStatus.CHECKED


def test_list_is_the_partners_own_newest_first(api, api_b):
    first = create(api).json()
    second = create(api, file_name="zwei.csv").json()
    create(api_b)

    listed = api.get(URL).json()["results"]

    assert [j["id"] for j in listed] == [second["id"], first["id"]]


def test_point_adjustments_are_refused(api):
    body = assert_problem(create(api, kind="points"), 400, "import_refused")

    assert body["errors"][0]["field"] == "kind"
    assert not ImportJob.objects.exists()


def test_a_program_of_another_partner_is_refused(api):
    body = assert_problem(create(api, program="fremd"), 400, "validation_error")

    assert body["errors"][0]["code"] == "unknown_program"


def test_the_same_file_again_answers_with_the_earlier_import(api):
    first = send_file(api).json()

    again = send_file(api)

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["same_file"] is True
    staged = upload_in_two_parts(api)
    assert staged.status_code == 200
    assert staged.json()["id"] == first["id"]
    assert staged.json()["same_file"] is True
    assert ImportJob.objects.count() == 1  # the staged upload was dropped


def test_a_part_above_the_body_limit_is_refused(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    job = create(api).json()

    response = put_part(api, job["upload_url"] + "/1", b"x" * 1025)

    assert_problem(response, 413, "payload_too_large")
    assert not ImportJob.objects.get().parts.exists()


def test_parts_only_while_uploading_and_complete_only_once(api):
    job = upload_in_two_parts(api).json()

    assert_problem(put_part(api, f"{URL}/{job['id']}/parts/3", b"x"), 409, "import_conflict")
    assert_problem(api.post(f"{URL}/{job['id']}/complete"), 409, "import_conflict")


def test_part_number_and_body_are_checked(api):
    job = create(api).json()

    assert_problem(put_part(api, job["upload_url"] + "/0", b"x"), 400, "validation_error")
    assert_problem(put_part(api, job["upload_url"] + "/1", b""), 400, "import_refused")
    assert_problem(api.post(job["links"]["complete"]), 400, "import_refused")  # no parts


def test_cancel(api):
    job = upload_in_two_parts(api).json()

    response = api.post(job["links"]["cancel"])

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert_problem(api.post(job["links"]["cancel"]), 409, "import_conflict")
    assert_problem(
        api.post(job["links"]["commit"], {"plan_digest": job["plan_digest"]}),
        409,
        "import_conflict",
    )


def test_a_read_only_key_cannot_import(api_read):
    assert_problem(create(api_read), 403, "insufficient_scope")
    assert_problem(send_file(api_read), 403, "insufficient_scope")
    assert api_read.get(URL).status_code == 200


def test_a_file_sent_again_with_the_same_idempotency_key_is_replayed(api):
    first = api.post(
        URL,
        {"kind": "members", "program": "treue", "file": SimpleUploadedFile("m.csv", MEMBERS)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="import-1",
    )
    again = api.post(
        URL,
        {"kind": "members", "program": "treue", "file": SimpleUploadedFile("m.csv", MEMBERS)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="import-1",
    )

    assert first.status_code == 201, first.json()
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
