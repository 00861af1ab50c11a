"""Every write of the intake: taking in responses (``ingest``) and the settings and alert rules
that govern it (``configuration``)."""

from caseloop.intake.services.configuration import (
    SIGNATURE_PREFIX,
    BadSignature,
    check_alert_rule,
    check_intake,
    configure_intake,
    program_for_webhook,
    rotate_webhook_secret,
    save_alert_rule,
    signature_of,
)
from caseloop.intake.services.importing import FileImport, ImportWorkerFailed, default_workers
from caseloop.intake.services.ingest import (
    BadRecords,
    IntakeResult,
    IntakeSession,
    ResponseOutcome,
    ingest_batches,
    ingest_responses,
    records_from_json,
)

__all__ = [
    "SIGNATURE_PREFIX",
    "BadRecords",
    "BadSignature",
    "FileImport",
    "ImportWorkerFailed",
    "IntakeResult",
    "IntakeSession",
    "ResponseOutcome",
    "check_alert_rule",
    "check_intake",
    "configure_intake",
    "default_workers",
    "ingest_batches",
    "ingest_responses",
    "program_for_webhook",
    "records_from_json",
    "rotate_webhook_secret",
    "save_alert_rule",
    "signature_of",
]
