"""Administration of notifications: templates with a preview on a real case, the outbox with
its failures and a "retry now" action, webhook subscriptions, program mailboxes, inbound mail.

Writes go through ``caseloop.notify.services``; the forms call the same checks to show errors
beside the fields.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from caseloop.cases.models import Case, parse_case_number
from caseloop.notify.models import (
    DeliveryAttempt,
    InboundMessage,
    NotificationPreference,
    NotificationTemplate,
    OutboxMessage,
    OutboxStatus,
    ProgramMailbox,
    TemplateEvent,
    WebhookSubscription,
)
from caseloop.notify.rendering import (
    TemplateProblem,
    TemplateSource,
    build_context,
    default_template,
    render_email,
    template_problems,
)
from caseloop.notify.services import (
    retry_outbox_now,
    save_program_mailbox,
    save_template,
    save_webhook_subscription,
    set_watcher_mail,
    webhook_problems,
)
from caseloop.notify.tasks import retry_outbox_delivery


class NotificationTemplateForm(forms.ModelForm):
    class Meta:
        model = NotificationTemplate
        fields = ["program", "event", "subject", "body_text", "body_html", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problems = template_problems(
            TemplateSource(
                cleaned.get("subject") or "",
                cleaned.get("body_text") or "",
                cleaned.get("body_html") or "",
            )
        )
        for field_name, message in problems.items():
            self.add_error(field_name, message)
        return cleaned


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    """A program's email templates. A new one starts from the default for its event
    (``?event=closed``); the change page links to a preview on any case of the program."""

    form = NotificationTemplateForm
    list_display = ("program", "event", "subject", "is_active", "updated_at")
    list_filter = ("event", "is_active", "program")
    readonly_fields = ("preview",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        event = request.GET.get("event")
        if event in TemplateEvent.values:
            source = default_template(event)
            initial.update(
                event=event,
                subject=source.subject.strip(),
                body_text=source.body_text,
                body_html=source.body_html,
            )
        return initial

    @admin.display(description="Preview")
    def preview(self, obj: NotificationTemplate) -> str:
        if obj.pk is None:
            return "Save the template first, then preview it on a case."
        url = reverse("admin:notify_notificationtemplate_preview", args=[obj.pk])
        return format_html(
            '<a href="{}" target="_blank">Preview on a case</a> (add <code>?case=CL-000123</code>'
            " to choose the case)",
            url,
        )

    def save_model(
        self, request: HttpRequest, obj: NotificationTemplate, form: Any, change: bool
    ) -> None:
        save_template(obj)

    def get_urls(self) -> list[URLPattern]:
        preview = path(
            "<int:template_id>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="notify_notificationtemplate_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        """The template rendered for a case of its program: the one asked for, else the newest."""
        template = get_object_or_404(NotificationTemplate, pk=template_id)
        if not self.has_view_permission(request, template):
            return HttpResponse(status=403)
        cases = Case.objects.filter(program_id=template.program_id)
        wanted = parse_case_number(request.GET.get("case", ""))
        case = (cases.filter(pk=wanted) if wanted else cases.order_by("-created_at")).first()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {template}",
            "template_obj": template,
            "case": case,
        }
        if case is not None:
            source = TemplateSource(template.subject, template.body_text, template.body_html)
            try:
                context["rendered"] = render_email(source, build_context(case))
            except TemplateProblem as problem:
                context["problem"] = problem.message
        return TemplateResponse(request, "admin/notify/preview.html", context)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "finished_at", "succeeded", "detail", "error")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: the worker owns the outbox. Failed messages show their last error and every
    attempt; "Retry now" sends chosen failed or waiting messages again at once."""

    list_display = (
        "created_at",
        "kind",
        "status",
        "template_event",
        "case",
        "attempts",
        "next_attempt_at",
        "short_error",
    )
    list_filter = ("status", "kind", "template_event")
    search_fields = ("dedup_key", "message_id")
    list_select_related = ("case",)
    show_full_result_count = False
    actions = ["retry_now", "retry_delivery_now"]
    inlines = [DeliveryAttemptInline]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    @admin.display(description="Last error")
    def short_error(self, obj: OutboxMessage) -> str:
        return obj.last_error.strip().splitlines()[-1][:120] if obj.last_error.strip() else ""

    @admin.action(description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = retry_outbox_now(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} message(s) will be sent at the next worker run.")

    @admin.action(description="Retry delivery now (messages that gave up, in the background)")
    def retry_delivery_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        # A one-off job of the task queue: a selection across every page after a long outage
        # can be large, and the request should not wait for it.
        ids = list(queryset.filter(status=OutboxStatus.FAILED).values_list("pk", flat=True))
        if not ids:
            self.message_user(request, "None of the chosen messages gave up.", messages.WARNING)
            return
        retry_outbox_delivery.enqueue(ids)
        self.message_user(
            request, f"{len(ids)} message(s) that gave up will be retried by the worker."
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookSubscription
        fields = ["program", "name", "url", "events", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field_name, message in webhook_problems(
            cleaned.get("url") or "", cleaned.get("events", [])
        ).items():
            self.add_error(field_name, message)
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Per program: where case events are POSTed. The secret signs every delivery; give it to
    the receiving system."""

    form = WebhookSubscriptionForm
    list_display = ("name", "program", "url", "is_active", "created_at")
    list_filter = ("program", "is_active")
    readonly_fields = ("secret", "created_at")

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        save_webhook_subscription(obj)


class ProgramMailboxForm(forms.ModelForm):
    class Meta:
        model = ProgramMailbox
        fields = ["program", "address", "case_type", "unit", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        program, case_type = cleaned.get("program"), cleaned.get("case_type")
        if program and case_type and case_type.program_id != program.pk:
            self.add_error("case_type", "Choose a case type of the same program.")
        if "+" in (cleaned.get("address") or "").partition("@")[0]:
            self.add_error("address", "The address may not contain '+': it tags replies.")
        return cleaned


@admin.register(ProgramMailbox)
class ProgramMailboxAdmin(admin.ModelAdmin):
    form = ProgramMailboxForm
    list_display = ("address", "program", "case_type", "unit", "is_active")

    def save_model(
        self, request: HttpRequest, obj: ProgramMailbox, form: Any, change: bool
    ) -> None:
        save_program_mailbox(obj)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    """Read-only: every inbound email accepted, and what became of it."""

    list_display = ("received_at", "via", "sender", "subject", "outcome", "reason", "case")
    list_filter = ("outcome", "via")
    search_fields = ("sender", "subject", "message_key")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "watcher_mail")
    list_filter = ("watcher_mail",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)

    def save_model(
        self, request: HttpRequest, obj: NotificationPreference, form: Any, change: bool
    ) -> None:
        set_watcher_mail(obj.user, enabled=obj.watcher_mail)
