"""Login, logout, password change and reset: Django's views with the app's own templates.

The templates are named under ``web/registration/`` so that the admin's own registration
templates, found first when the admin app is listed before this one, never replace them.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.template import loader
from django.urls import reverse_lazy

from caseloop.notify.services import queue_account_email


class OutboxPasswordResetForm(PasswordResetForm):
    """Django's reset form, whose mail leaves through the outbox like every other email: the
    request only writes a row, and an SMTP server that is down delays the mail, not the page."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        text = loader.render_to_string(email_template_name, context)
        html = (
            loader.render_to_string(html_email_template_name, context)
            if html_email_template_name
            else ""
        )
        queue_account_email(context["user"], subject=subject, text=text, html=html)


class PasswordResetView(auth_views.PasswordResetView):
    """Mails a one-time link (through the outbox) that points at the configured ``SITE_URL``,
    never at whatever host the request named."""

    form_class = OutboxPasswordResetForm

    @property
    def extra_email_context(self) -> dict[str, str]:  # type: ignore[override]
        return {"site_url": settings.SITE_URL}


login = auth_views.LoginView.as_view(
    template_name="web/registration/login.html", redirect_authenticated_user=True
)
logout = auth_views.LogoutView.as_view(next_page=reverse_lazy("web:login"))
password_change = auth_views.PasswordChangeView.as_view(
    template_name="web/registration/password_change_form.html",
    success_url=reverse_lazy("web:password_change_done"),
)
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="web/registration/password_change_done.html"
)
password_reset = PasswordResetView.as_view(
    template_name="web/registration/password_reset_form.html",
    email_template_name="web/registration/password_reset_email.txt",
    subject_template_name="web/registration/password_reset_subject.txt",
    success_url=reverse_lazy("web:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="web/registration/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="web/registration/password_reset_confirm.html",
    success_url=reverse_lazy("web:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="web/registration/password_reset_complete.html"
)
