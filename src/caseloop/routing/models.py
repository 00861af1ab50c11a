"""Assignment rules: who owns a new case, by ordered rules a program administrator writes."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Strategy(models.TextChoices):
    UNIT_OWNER = "unit_owner", _("The unit's designated owner")
    ROUND_ROBIN = "round_robin", _("Round-robin within a team")
    LEAST_LOADED = "least_loaded", _("Least-loaded member of a team")
    SKILL = "skill", _("Least-loaded team member with a skill")


class AssignmentRule(models.Model):
    """One rule of a program's routing. Rules are tried in ``position`` order and the first whose
    condition holds (an empty condition always holds) and that finds someone available decides
    the owner. A team is a unit: its members are the users holding the agent or manager role on
    it. Users marked away are never chosen."""

    program = models.ForeignKey(
        "programs.Program", on_delete=models.CASCADE, related_name="assignment_rules"
    )
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=200)
    condition = models.TextField(
        blank=True,
        help_text=_(
            "An expression in the rule language, e.g. priority == 'urgent'. Empty: always."
        ),
    )
    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    team = models.ForeignKey(
        "org.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For the team strategies: the unit whose members take turns."),
    )
    skill = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    # Round-robin's place in the team: the member who received the last case of this rule.
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["program", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(strategy="unit_owner") | models.Q(team__isnull=False),
                name="assignment_rule_team_strategies_need_team",
            ),
            models.CheckConstraint(
                condition=~models.Q(strategy="skill") | ~models.Q(skill=""),
                name="assignment_rule_skill_strategy_needs_skill",
            ),
        ]

    def __str__(self) -> str:
        return self.name
