"""Where Sigma rules meet our ECS events: field mappings (a pySigma processing pipeline) and
logsource routing (which events a rule's ``logsource`` selects)."""

from __future__ import annotations

from collections.abc import Callable

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaLogSource

from cert.ecs import Event, get

# Sigma's web server taxonomy (W3C names) -> ECS, as Filebeat's nginx/apache modules write it.
WEBSERVER_FIELDS: dict[str, str | list[str]] = {
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "cs-uri-query": "url.query",
    "cs-uri-stem": "url.path",
    "cs-uri": "url.original",
    "cs-user-agent": "user_agent.original",
    "cs-referer": "http.request.referrer",
    "cs-host": "url.domain",
    "cs-version": "http.version",
    "sc-status": "http.response.status_code",
    "sc-bytes": "http.response.body.bytes",
    "cs-username": "user.name",
}


def ecs_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="Vigie: Sigma taxonomy to Vigie ECS events",
        priority=20,
        items=[
            ProcessingItem(
                identifier="vigie_webserver_fields",
                transformation=FieldMappingTransformation(WEBSERVER_FIELDS),
                rule_conditions=[LogsourceCondition(category="webserver")],
            ),
        ],
    )


EventFilter = Callable[[Event], bool]


def _in(field: str, *values: str) -> EventFilter:
    wanted = set(values)

    def check(event: Event) -> bool:
        v = get(event, field)
        if isinstance(v, list):
            return any(x in wanted for x in v)
        return v in wanted

    return check


def logsource_filter(ls: SigmaLogSource) -> EventFilter | None:
    """The events a logsource selects, or None when we have no such events (rule unsupported)."""
    product, category, service = ls.product, ls.category, ls.service
    if category == "webserver" and not product and not service:
        return _in("event.category", "web")
    if product == "linux":
        if service in ("auth", "sshd", "sudo") and not category:
            return _in("event.dataset", "system.auth")
        if service is None and category is None:
            return lambda e: str(get(e, "event.dataset", "")).startswith("system.")
    return None
