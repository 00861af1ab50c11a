"""Browser tests never skip silently where every real part is required (CI)."""

import pytest

from caseloop.web.tests.conftest import chromium_or_skip


def test_missing_chromium_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELOOP_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CASELOOP_REQUIRE_REAL_PARTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        chromium_or_skip()


def test_missing_chromium_fails_when_real_parts_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASELOOP_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CASELOOP_REQUIRE_REAL_PARTS", "1")
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        chromium_or_skip()
