"""POST /cases/{id}/attachments: a multipart upload, checked for type and size before storing."""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from caseloop.api.tests.conftest import Api, error_of
from caseloop.cases.models import CaseAttachment
from caseloop.conftest import Cast

pytestmark = pytest.mark.django_db


def _url(cast: Cast) -> str:
    return f"/cases/{cast.case.pk}/attachments"


def test_allowed_file_is_stored_and_listed(api: Api, cast: Cast, media_root: Path) -> None:
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", content_type="application/pdf")
    response = api.upload(_url(cast), cast.owner, file=upload)
    assert response.status_code == 201
    listed = response.json()["attachments"]
    assert [(a["original_name"], a["content_type"], a["size"]) for a in listed] == [
        ("receipt.pdf", "application/pdf", 16)
    ]
    stored = CaseAttachment.objects.get()
    assert (media_root / stored.file.name).read_bytes() == b"%PDF-1.4 receipt"


def test_disallowed_type_is_422_and_nothing_is_stored(
    api: Api, cast: Cast, media_root: Path
) -> None:
    upload = SimpleUploadedFile("run.sh", b"#!/bin/sh\nrm -rf /", content_type="application/x-sh")
    response = api.upload(_url(cast), cast.owner, file=upload)
    assert response.status_code == 422
    assert error_of(response)["field"] == "file"
    assert not CaseAttachment.objects.exists()
    assert not any(media_root.rglob("*"))


def test_oversized_file_is_422_and_nothing_is_stored(
    api: Api, cast: Cast, media_root: Path, settings: Any
) -> None:
    settings.CASELOOP_ATTACHMENT_MAX_BYTES = 10
    upload = SimpleUploadedFile("notes.txt", b"x" * 11, content_type="text/plain")
    response = api.upload(_url(cast), cast.owner, file=upload)
    assert response.status_code == 422
    assert error_of(response)["field"] == "file"
    assert not CaseAttachment.objects.exists()
    assert not any(media_root.rglob("*"))


def test_upload_without_a_file_is_422(api: Api, cast: Cast) -> None:
    response = api.upload(_url(cast), cast.owner, note="no file here")
    assert response.status_code == 422
    assert error_of(response)["field"] == "file"


def test_json_body_instead_of_a_form_is_422(api: Api, cast: Cast) -> None:
    response = api.post(_url(cast), cast.owner, {"file": "receipt.pdf"})
    assert response.status_code == 422
    assert not CaseAttachment.objects.exists()
