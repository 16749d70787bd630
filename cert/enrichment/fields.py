"""The ECS fields Elastic's pipelines derive from others, added to every parsed event whatever its
parser: the parts of ``dns.question.name`` and ``url.domain`` (``cert.enrichment.domains``) and
of ``user_agent.original`` (``cert.enrichment.user_agent``). Applied by the Ingestor after the
parser (and after a parser's native fast path), beside GeoIP."""

from __future__ import annotations

from cert.core.ecs import Event
from cert.enrichment.domains import put_domain_parts
from cert.enrichment.user_agent import put_user_agent


def enrich(event: Event) -> None:
    """Add the derived fields an event has the data for; the fields already set are kept."""
    dns = event.get("dns")
    if dns.__class__ is dict:
        question = dns.get("question")
        if question.__class__ is dict:
            put_domain_parts(question, question.get("name"))
    url = event.get("url")
    if url.__class__ is dict:
        put_domain_parts(url, url.get("domain"))
    ua = event.get("user_agent")
    if ua.__class__ is dict:
        put_user_agent(ua)
