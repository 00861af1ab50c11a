"""Customers, what they bought, and every interaction with them: the customer 360."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    """A person or company with a problem. Phone numbers are stored in E.164 (``+4930123456``)
    so that a caller is recognised whatever way the number was first written down."""

    external_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text=_("E.164"))
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(Lower("email"), name="customer_email_lower"),
            models.Index(fields=["phone"], name="customer_phone"),
            models.Index(Lower("name"), name="customer_name_lower"),
        ]

    def __str__(self) -> str:
        return customer_label(self.pk, self.name, self.email, self.phone)

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.phone)


def customer_label(pk: int | None, name: str, email: str, phone: str) -> str:
    """How a customer is named on a page: their name, else how to reach them, else their id."""
    return name or email or phone or f"Customer {pk}"


class Transaction(models.Model):
    """Something the customer did with us (a purchase, a stay, a repair) that a case is about."""

    # ``transaction_timeline`` leads with the customer: an index of its own would only cost writes.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="transactions", db_index=False
    )
    unit = models.ForeignKey(
        "org.Unit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField()
    kind = models.CharField(max_length=64, help_text=_("e.g. purchase, service visit"))
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    reference = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="transaction_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}".strip()


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    WEB = "web", _("Web form")
    SURVEY = "survey", _("Survey")
    API = "api", _("API")
    SMS = "sms", _("SMS")
    IN_PERSON = "in_person", _("In person")
    NOTE = "note", _("Internal note")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")
    INTERNAL = "internal", _("Internal")


class Interaction(models.Model):
    """One contact with the customer on any channel; together they form the customer's timeline."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="interactions"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    occurred_at = models.DateTimeField()
    summary = models.TextField(blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="interaction_timeline")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d}"
