"""Notifications to the constituency: the queue with states and its SMTP delivery, incidents
notified to the organisation concerned and escalated when not acknowledged, alerts aggregated
per organisation, and advisories. See docs/notifications.md."""

from cert.notify.advisories import AdvisoryDraft, create_advisory, get_advisory, list_advisories
from cert.notify.aggregate import notify_alerts
from cert.notify.delivery import DeliveryReport, deliver_due
from cert.notify.incidents import escalate, notify_incident
from cert.notify.links import ack_token, ack_url, read_ack_token
from cert.notify.queue import get_notification, list_notifications, retry

__all__ = [
           "AdvisoryDraft",
           "DeliveryReport",
           "ack_token",
           "ack_url",
           "create_advisory",
           "deliver_due",
           "escalate",
           "get_advisory",
           "get_notification",
           "list_advisories",
           "list_notifications",
           "notify_alerts",
           "notify_incident",
           "read_ack_token",
           "retry",
]
