"""Login, logout, password change and reset: Django's views with the app's own templates.

The templates are named under ``web/registration/`` so that the admin's own registration
templates, found first when the admin app is listed before this one, never replace them.
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy


class PasswordResetView(auth_views.PasswordResetView):
    """Mails a one-time link (through the configured email backend) that points at the
    configured ``SITE_URL``, never at whatever host the request named."""

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
