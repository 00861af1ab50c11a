"""Login, logout, password change and reset; every page needs a login; CSRF is enforced."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from caseloop.conftest import Cast
from caseloop.notify.delivery import deliver_due
from caseloop.notify.models import OutboxMessage, OutboxStatus
from caseloop.org.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"

PAGES_BEHIND_LOGIN = [
    reverse("web:inbox"),
    reverse("web:search") + "?q=x",
    reverse("web:case", args=[1]),
    reverse("web:attachment", args=[1, 1]),
    reverse("web:customer", args=[1]),
    reverse("web:password_change"),
]

ACTIONS_BEHIND_LOGIN = [
    reverse("web:add_note", args=[1]),
    reverse("web:attach_file", args=[1]),
    reverse("web:log_contact_attempt", args=[1]),
    reverse("web:complete_task", args=[1, 1]),
    reverse("web:undo_task", args=[1, 1]),
    reverse("web:assign_case", args=[1]),
    reverse("web:add_watcher", args=[1]),
    reverse("web:remove_watcher", args=[1, 1]),
    reverse("web:close_case", args=[1]),
    reverse("web:reopen_case", args=[1]),
]


@pytest.mark.parametrize("url", PAGES_BEHIND_LOGIN)
def test_anonymous_visitor_is_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login") + "?next=")


@pytest.mark.parametrize("url", ACTIONS_BEHIND_LOGIN)
def test_anonymous_post_changes_nothing_and_is_sent_to_login(
    client: Client, cast: Cast, url: str
) -> None:
    response = client.post(url, {"body": "x", "version": 1})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
    assert not cast.case.notes.exists()


def test_login_page_has_labelled_fields(client: Client) -> None:
    html = client.get(reverse("web:login")).content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


def test_login_lands_in_the_inbox(client: Client, cast: Cast) -> None:
    response = client.post(
        reverse("web:login"), {"username": "olivia", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("web:inbox")
    assert cast.case.number in response.content.decode()


def test_wrong_password_is_refused_with_a_message(client: Client, cast: Cast) -> None:
    response = client.post(reverse("web:login"), {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_gives_a_new_session_key(client: Client, cast: Cast) -> None:
    session = client.session
    session["seen"] = True
    session.save()
    before = session.session_key
    client.post(reverse("web:login"), {"username": "olivia", "password": PASSWORD})
    assert client.session.session_key != before


def test_login_refuses_a_post_without_csrf_token(cast: Cast) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("web:login"), {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 403


def test_case_action_refuses_a_post_without_csrf_token(cast: Cast) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    response = client.post(
        reverse("web:add_note", args=[cast.case.pk]), {"body": "x", "version": 1}
    )
    assert response.status_code == 403
    assert not cast.case.notes.exists()


def test_every_page_carries_the_csrf_token_for_htmx(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    html = client.get(reverse("web:inbox")).content.decode()
    assert re.search(r'hx-headers=\'\{"X-CSRFToken": "[A-Za-z0-9]+"\}\'', html)


def test_logout_needs_a_post(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    assert client.get(reverse("web:logout")).status_code == 405
    assert "_auth_user_id" in client.session


def test_logout_ends_the_session(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    response = client.post(reverse("web:logout"))
    assert response["Location"] == reverse("web:login")
    assert client.get(reverse("web:inbox")).status_code == 302


def test_password_change_keeps_the_user_logged_in(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    response = client.post(
        reverse("web:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase",
            "new_password2": "a brand new passphrase",
        },
    )
    assert response["Location"] == reverse("web:password_change_done")
    assert User.objects.get(pk=cast.owner.pk).check_password("a brand new passphrase")
    assert client.get(reverse("web:inbox")).status_code == 200


def test_password_change_refuses_a_wrong_old_password(client: Client, cast: Cast) -> None:
    client.force_login(cast.owner)
    response = client.post(
        reverse("web:password_change"),
        {"old_password": "wrong", "new_password1": "x y z w q", "new_password2": "x y z w q"},
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()


def test_password_reset_mails_a_link_that_sets_a_new_password(
    client: Client, cast: Cast, settings: SettingsWrapper
) -> None:
    settings.SITE_URL = "https://cases.example.com"
    cast.owner.email = "olivia@example.test"
    cast.owner.save()
    response = client.post(reverse("web:password_reset"), {"email": "olivia@example.test"})
    assert response["Location"] == reverse("web:password_reset_done")
    [sent] = deliver_account_mail()
    link = re.search(r"https://cases\.example\.com(/password/reset/\S+/)", sent.body)
    assert link, sent.body
    form_url = client.get(link.group(1))["Location"]  # Django swaps the token for a session
    response = client.post(
        form_url, {"new_password1": "reset passphrase ok", "new_password2": "reset passphrase ok"}
    )
    assert response["Location"] == reverse("web:password_reset_complete")
    assert User.objects.get(pk=cast.owner.pk).check_password("reset passphrase ok")


def test_password_reset_link_points_at_the_site_url_not_the_request_host(
    client: Client, cast: Cast, settings: SettingsWrapper
) -> None:
    settings.SITE_URL = "https://cases.example.com"
    settings.ALLOWED_HOSTS = ["*"]
    cast.owner.email = "olivia@example.test"
    cast.owner.save()
    client.post(
        reverse("web:password_reset"),
        {"email": "olivia@example.test"},
        HTTP_HOST="evil.example.net",
    )
    [sent] = deliver_account_mail()
    assert "cases.example.com" in sent.body
    assert "evil.example.net" not in sent.body


def test_password_reset_sends_nothing_during_the_request_and_the_worker_mails_it(
    client: Client, cast: Cast
) -> None:
    cast.owner.email = "olivia@example.test"
    cast.owner.save()
    client.post(reverse("web:password_reset"), {"email": "olivia@example.test"})
    assert mail.outbox == []
    queued = account_mail()
    assert queued.status == OutboxStatus.PENDING
    assert queued.recipients["to"] == [f"{cast.owner} <olivia@example.test>"]

    [sent] = deliver_account_mail()

    assert sent.to == [f"{cast.owner} <olivia@example.test>"]
    assert sent.extra_headers["Message-ID"] == queued.message_id
    assert "/password/reset/" in sent.body


def test_a_sent_reset_link_is_no_longer_readable_in_the_outbox(client: Client, cast: Cast) -> None:
    cast.owner.email = "olivia@example.test"
    cast.owner.save()
    client.post(reverse("web:password_reset"), {"email": "olivia@example.test"})
    assert "/password/reset/" in str(account_mail().payload)

    [sent] = deliver_account_mail()

    message = account_mail()
    assert message.status == OutboxStatus.SENT
    assert "/password/reset/" not in str(message.payload)
    assert message.payload["account_mail"]["subject"] == sent.subject


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(
    client: Client, cast: Cast
) -> None:
    response = client.post(reverse("web:password_reset"), {"email": "nobody@example.test"})
    assert response["Location"] == reverse("web:password_reset_done")
    assert not OutboxMessage.objects.filter(dedup_key__startswith="account:").exists()
    assert deliver_account_mail() == []


def deliver_account_mail() -> list[mail.EmailMessage]:
    """Run the worker's outbox delivery once and return what it sent (the test email backend
    keeps it in ``mail.outbox``)."""
    deliver_due()
    return [m for m in mail.outbox if ".account@" in m.extra_headers["Message-ID"]]


def account_mail() -> OutboxMessage:
    return OutboxMessage.objects.get(dedup_key__startswith="account:")
