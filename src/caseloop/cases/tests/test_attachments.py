"""Attachments: size limit, content-type allow-list, and uploaded names never used as paths."""

from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from caseloop.cases.models import CaseAttachment, CaseEvent, EventKind
from caseloop.cases.services import attach_file
from caseloop.conftest import Cast
from caseloop.errors import InvalidInput

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_allowed_file_is_stored_under_a_generated_name(
    cast: Cast, now: datetime, media_root: Path
) -> None:
    upload = SimpleUploadedFile(
        "../../etc/passwd.pdf", b"%PDF-1.4 receipt", content_type="application/pdf"
    )
    attachment = attach_file(cast.case, actor=cast.owner, upload=upload, now=now)
    assert attachment.original_name == "passwd.pdf"
    assert "passwd" not in attachment.file.name
    assert attachment.file.name.startswith(f"cases/{cast.case.pk}/")
    assert (media_root / attachment.file.name).read_bytes() == b"%PDF-1.4 receipt"
    assert CaseEvent.objects.filter(case=cast.case, kind=EventKind.ATTACHMENT_ADDED).exists()


def test_disallowed_type_is_refused_and_nothing_stored(
    cast: Cast, now: datetime, media_root: Path
) -> None:
    upload = SimpleUploadedFile("run.sh", b"#!/bin/sh", content_type="application/x-sh")
    with pytest.raises(InvalidInput):
        attach_file(cast.case, actor=cast.owner, upload=upload, now=now)
    assert not CaseAttachment.objects.exists()
    assert not any(media_root.rglob("*"))


def test_name_that_contradicts_declared_type_is_refused(cast: Cast, now: datetime) -> None:
    upload = SimpleUploadedFile("payload.html", b"<script>", content_type="image/png")
    with pytest.raises(InvalidInput):
        attach_file(cast.case, actor=cast.owner, upload=upload, now=now)


@override_settings(CASELOOP_ATTACHMENT_MAX_BYTES=10)
def test_oversized_file_is_refused(cast: Cast, now: datetime) -> None:
    upload = SimpleUploadedFile("big.txt", b"x" * 11, content_type="text/plain")
    with pytest.raises(InvalidInput) as error:
        attach_file(cast.case, actor=cast.owner, upload=upload, now=now)
    assert error.value.field == "file"
    assert not CaseAttachment.objects.exists()
