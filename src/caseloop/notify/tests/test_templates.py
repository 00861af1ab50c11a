"""Templates: the defaults render for a real case, administrators' templates run in a sandbox
that reaches no code or secret, and a broken template is refused when saved."""

from datetime import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from caseloop.cases.models import CaseEvent, EventKind
from caseloop.cases.tests.factories import make_case
from caseloop.conftest import Cast
from caseloop.notify.models import NotificationTemplate, TemplateEvent
from caseloop.notify.rendering import (
    TemplateProblem,
    TemplateSource,
    build_context,
    default_template,
    render_email,
    sample_context,
    template_problems,
)
from caseloop.notify.services import save_template


def render_text(cast: Cast, source: str) -> str:
    return render_email(TemplateSource("s", source, ""), build_context(cast.case)).text


def shape(value: object) -> object:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__ if value is not None else "None"


@pytest.mark.parametrize("event", TemplateEvent.values)
def test_every_default_template_renders_for_a_real_case(
    cast: Cast, event: str, now: datetime
) -> None:
    created = CaseEvent.objects.filter(case=cast.case, kind=EventKind.CREATED).first()
    rendered = render_email(default_template(event), build_context(cast.case, created, now=now))
    assert cast.case.number in rendered.subject + rendered.text
    assert "\n" not in rendered.subject
    assert rendered.html.startswith("<!doctype html>")


def test_the_sample_case_has_the_shape_of_a_real_one(cast: Cast) -> None:
    real = build_context(cast.case)
    sample = sample_context()
    assert set(sample) == set(real)
    assert {k: set(v) for k, v in sample.items() if isinstance(v, dict)} == {
        k: set(v) for k, v in real.items() if isinstance(v, dict)
    }
    assert set(sample["case"]["owner"]) == set(real["case"]["owner"])  # type: ignore[index]


def test_deadlines_are_shown_in_the_units_time_zone(cast: Cast) -> None:
    text = render_text(cast, "{{ case.resolve_due_at|datetime('%H:%M %Z') }}")
    assert text.endswith("UTC")


@pytest.mark.parametrize(
    "source",
    [
        "{{ case.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ case.items.__self__ }}",
        "{{ (case.subject).format.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
    ],
)
def test_the_sandbox_refuses_python_internals(cast: Cast, source: str) -> None:
    with pytest.raises(TemplateProblem):
        render_text(cast, source)


def test_a_template_cannot_read_the_settings(cast: Cast) -> None:
    with pytest.raises(TemplateProblem, match="undefined"):
        render_text(cast, "{{ settings.SECRET_KEY }}")
    assert settings.SECRET_KEY not in render_text(cast, "{{ site }} {{ case }}")


def test_a_template_cannot_change_the_data_it_sees(cast: Cast) -> None:
    with pytest.raises(TemplateProblem, match="not allowed"):
        render_text(cast, "{{ case.watchers.append('intruder') }}")


def test_a_template_cannot_include_files(cast: Cast) -> None:
    with pytest.raises(TemplateProblem):
        render_text(cast, "{% include '/etc/passwd' %}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ 2 ** 100 }}",
        "{{ (((9 ** 9) ** 9) ** 9) ** 9 }}",
        "{% for i in range(10**8) %}{% endfor %}",
    ],
)
def test_a_template_cannot_build_huge_values(cast: Cast, source: str) -> None:
    with pytest.raises(TemplateProblem):
        render_text(cast, source)


def test_output_is_bounded(cast: Cast) -> None:
    with pytest.raises(TemplateProblem, match="longer than"):
        render_text(cast, "{% for i in range(90000) %}{{ 'abcdefghij' * 100 }}{% endfor %}")


def test_the_html_body_escapes_what_it_prints(cast: Cast) -> None:
    cast.case.subject = "<b>bold</b> & co"
    html = render_email(
        TemplateSource("s", "t", "<p>{{ case.subject }}</p>"), build_context(cast.case)
    ).html
    assert html == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; co</p>"


def test_the_text_body_is_not_escaped(cast: Cast) -> None:
    cast.case.subject = "Fish & chips"
    assert render_text(cast, "{{ case.subject }}") == "Fish & chips"


def test_a_template_that_does_not_compile_is_refused_at_save(cast: Cast) -> None:
    template = NotificationTemplate(
        program=cast.program, event="closed", subject="Closed", body_text="Hi\n{% if %}"
    )
    with pytest.raises(TemplateProblem, match="line 2") as caught:
        save_template(template)
    assert caught.value.field == "body_text"
    assert not NotificationTemplate.objects.exists()


def test_a_misspelt_name_is_refused_at_save(cast: Cast) -> None:
    problems = template_problems(TemplateSource("{{ case.numbr }}", "ok", ""))
    assert "numbr" in problems["subject"]


def test_a_good_template_is_saved_and_used(cast: Cast, now: datetime) -> None:
    save_template(
        NotificationTemplate(
            program=cast.program,
            event="created",
            subject="Neuer Fall {{ case.number }}",
            body_text="Kunde: {{ case.customer.name }}",
            body_html="",
        )
    )
    case = make_case(program=cast.program, unit=cast.store, now=now)
    from caseloop.notify.rendering import template_for

    source = template_for(cast.program.pk, "created")
    assert source is not None
    rendered = render_email(source, build_context(case))
    assert rendered.subject == f"Neuer Fall {case.number}"


@pytest.fixture
def admin_client_for(client: Client, cast: Cast) -> Client:
    client.force_login(cast.admin)
    return client


def test_the_admin_shows_a_template_error_beside_its_field(
    cast: Cast, admin_client_for: Client
) -> None:
    response = admin_client_for.post(
        reverse("admin:notify_notificationtemplate_add"),
        {
            "program": cast.program.pk,
            "event": "closed",
            "subject": "{{ case.number",
            "body_text": "fine",
            "body_html": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Subject, line 1" in response.content.decode()
    assert not NotificationTemplate.objects.exists()


def test_the_admin_previews_a_template_on_a_chosen_case(
    cast: Cast, admin_client_for: Client
) -> None:
    template = save_template(
        NotificationTemplate(
            program=cast.program,
            event="closed",
            subject="About {{ case.number }}",
            body_text="Customer {{ case.customer.name }}",
            body_html="<p>{{ case.subject }}</p>",
        )
    )
    url = reverse("admin:notify_notificationtemplate_preview", args=[template.pk])
    response = admin_client_for.get(url, {"case": cast.case.number})
    body = response.content.decode()
    assert response.status_code == 200
    assert f"About {cast.case.number}" in body
    assert f"Customer {cast.case.customer.name}" in body
    assert 'sandbox=""' in body


def test_a_new_template_in_the_admin_starts_from_the_default(admin_client_for: Client) -> None:
    response = admin_client_for.get(
        reverse("admin:notify_notificationtemplate_add"), {"event": "overdue"}
    )
    assert "Overdue: {{ case.subject }}" in response.content.decode()
