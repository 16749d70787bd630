"""The relational tables, one module per area. Importing this package registers every table on
``Base.metadata`` (Alembic and the application see them all); the names are re-exported here."""

from cert.storage.models.accounts import LoginThrottle, User, UserSession
from cert.storage.models.alerts import (
    Alert,
    AlertDayCount,
    AlertDayRuleCount,
    AlertRollupDay,
    AlertRollupMark,
    AlertTactic,
    DetectionRun,
    SavedFilter,
)
from cert.storage.models.anomaly import AnomalyBaseline, AnomalyBenign
from cert.storage.models.audit import AuditEntry
from cert.storage.models.base import utcnow
from cert.storage.models.contacts import (
    ConstituencyContact,
    ConstituencyNetworkObject,
    ConstituencyOrganization,
    ConstituencyVersion,
)
from cert.storage.models.incidents import (
    Attachment,
    Case,
    CaseAcknowledgement,
    CaseOrganization,
    Comment,
    Countermeasure,
    CustodyEntry,
    IncidentDayFigures,
    IncidentDayOrgFigures,
    IncidentReport,
    IncidentRollupMark,
    IncidentTemplate,
    Observable,
    ReportLink,
    Task,
    TimelineEntry,
)
from cert.storage.models.indicators import FileScan, Indicator, IndicatorGeneration, PartnerSighting
from cert.storage.models.ingest import DeadLetter, DeadLetterCount, IngestMinute, IngestSource
from cert.storage.models.intake import IntakeMessage, ReportAttachment
from cert.storage.models.notifications import Advisory, Notification, NotifiedFinding
from cert.storage.models.response import PlaybookRun, ResponseAction, StepApproval, StepRun
from cert.storage.models.rules import HuntMatch, HuntRun, RuleChange, RuleException, RuleSetting
from cert.storage.models.sharing import CasePublication
from cert.storage.models.tokens import ApiToken
from cert.storage.models.totp import RecoveryCode, UserTotp

__all__ = [
    "Advisory",
    "Alert",
    "AlertDayCount",
    "AlertDayRuleCount",
    "AlertRollupDay",
    "AlertRollupMark",
    "AlertTactic",
    "AnomalyBaseline",
    "AnomalyBenign",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Case",
    "CaseAcknowledgement",
    "CaseOrganization",
    "CasePublication",
    "Comment",
    "ConstituencyContact",
    "ConstituencyNetworkObject",
    "ConstituencyOrganization",
    "ConstituencyVersion",
    "Countermeasure",
    "CustodyEntry",
    "DeadLetter",
    "DeadLetterCount",
    "DetectionRun",
    "FileScan",
    "HuntMatch",
    "HuntRun",
    "IncidentDayFigures",
    "IncidentDayOrgFigures",
    "IncidentReport",
    "IncidentRollupMark",
    "IncidentTemplate",
    "Indicator",
    "IndicatorGeneration",
    "IngestMinute",
    "IngestSource",
    "IntakeMessage",
    "LoginThrottle",
    "Notification",
    "NotifiedFinding",
    "Observable",
    "PartnerSighting",
    "PlaybookRun",
    "RecoveryCode",
    "ReportAttachment",
    "ReportLink",
    "ResponseAction",
    "RuleChange",
    "RuleException",
    "RuleSetting",
    "SavedFilter",
    "StepApproval",
    "StepRun",
    "Task",
    "TimelineEntry",
    "User",
    "UserSession",
    "UserTotp",
    "utcnow",
]
