"""Sigma's non-Windows log sources on our ECS events: which events a ``logsource`` selects (conditions
added to the rule, so both evaluators and the Elasticsearch queries see them) and how Sigma's field
names map onto ECS.

Three kinds of source:

* **ECS sources** we parse (web access logs, Linux auth/syslog, network sensors, endpoint process /
  file / network events): Sigma names map onto ECS fields (tables below).
* **Zeek**: pySigma's own ``ecs_zeek_beats`` pipeline (Filebeat's Zeek module layout), which selects
  ``event.dataset: zeek.<service>``; a log whose Filebeat fileset has another name (``conn`` is
  ``zeek.connection``) is renamed first (``ZEEK_FILESETS``).
* **Native sources** (cloud audit logs, auditd, appliances, application logs): the rule's field
  names are the source's own, so they are matched verbatim on the event (``eventName``,
  ``requestParameters.x``...), and the events are those whose ``event.dataset`` is named after
  the source (:func:`native_dataset`). A parser for such a source keeps the record's fields as they
  are and sets that dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigma.pipelines.elasticsearch.zeek import ecs_zeek_beats, ecs_zeek_beats_category_service_mapping
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    ChangeLogsourceTransformation,
    FieldMappingTransformation,
)
from sigma.rule import SigmaLogSource

Mapping = dict[str | None, str | list[str]]

# Sigma's web server taxonomy (W3C names) -> ECS, as Filebeat's nginx/apache modules write it.
WEBSERVER_FIELDS: Mapping = {
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
    "cs-bytes": "http.request.body.bytes",
    "cs-username": "user.name",
    "s-ip": "destination.ip",
    "s-port": "destination.port",
}

# Sigma's proxy taxonomy -> ECS.
PROXY_FIELDS: Mapping = {
    "c-ip": "source.ip",
    "c-uri": "url.original",
    "c-uri-extension": "url.extension",
    "c-uri-query": "url.query",
    "c-uri-scheme": "url.scheme",
    "c-uri-stem": "url.path",
    "c-useragent": "user_agent.original",
    "cs-bytes": "http.request.bytes",
    "cs-cookie": "http.request.cookie",
    "cs-host": "url.domain",
    "cs-method": "http.request.method",
    "cs-referrer": "http.request.referrer",
    "cs-uri": "url.original",
    "cs-version": "http.version",
    "dst_ip": "destination.ip",
    "r-dns": "destination.domain",
    "sc-bytes": "http.response.bytes",
    "sc-status": "http.response.status_code",
    "src_ip": "source.ip",
}

DNS_FIELDS: Mapping = {
    "query": "dns.question.name",
    "record_type": "dns.question.type",
    "answer": "dns.answers.data",
    "parent_domain": "dns.question.registered_domain",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
}

FIREWALL_FIELDS: Mapping = {
    "src_ip": "source.ip",
    "src_port": "source.port",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "username": "user.name",
    "action": "event.action",
}

ANTIVIRUS_FIELDS: Mapping = {
    "Signature": "rule.name",
    "Filename": "file.path",
    "FileName": "file.path",
    "Computer": "host.name",
}

# Endpoint events (Auditbeat, Elastic Defend, Sysmon for Linux, ESF...) as ECS.
PROCESS_FIELDS: Mapping = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "User": "user.name",
    "LogonId": "process.user.id",
    "CurrentDirectory": "process.working_directory",
    "OriginalFileName": "process.pe.original_file_name",
    "ProcessId": "process.pid",
    "ParentProcessId": "process.parent.pid",
}
FILE_FIELDS: Mapping = {"TargetFilename": "file.path", "Image": "process.executable", "User": "user.name"}
NETWORK_FIELDS: Mapping = {
    "DestinationHostname": "destination.domain",
    "DestinationIp": "destination.ip",
    "DestinationPort": "destination.port",
    "SourceIp": "source.ip",
    "SourcePort": "source.port",
    "Image": "process.executable",
    "User": "user.name",
    "Protocol": "network.transport",
}

# auditd records keep their key=value pairs under auditd.log (Filebeat's auditd module layout).
AUDITD_PREFIX = "auditd.log."


@dataclass(frozen=True)
class Route:
    """Where a logsource's events are and how its field names map."""

    name: str
    conditions: dict[str, str | list[str]]
    fields: Mapping = field(default_factory=dict)
    prefix: str = ""  # for native sources kept under a namespace


def _endpoint(os_type: str, category: str) -> Route | None:
    table = {
        "process_creation": ({"event.category": "process", "event.type": "start"}, PROCESS_FIELDS),
        "file_event": ({"event.category": "file"}, FILE_FIELDS),
        "network_connection": ({"event.category": "network"}, NETWORK_FIELDS),
    }
    if category not in table:
        return None
    conds, fields = table[category]
    return Route(f"{os_type}/{category}", {"host.os.type": os_type, **conds}, fields)


LINUX_SERVICES: dict[str, list[str]] = {
    "auth": ["system.auth"],
    "sshd": ["system.auth"],
    "sudo": ["system.auth"],
    "su": ["system.auth"],
    "syslog": ["system.syslog"],
    "cron": ["system.syslog"],
    "vsftpd": ["system.syslog"],
    "clamav": ["system.syslog"],
    "guacamole": ["system.syslog"],
}


# Cisco services -> the datasets of the cisco.syslog parser: AAA command accounting is cisco.aaa;
# BGP and LDP (TCP MD5 authentication failures) are router messages.
CISCO_SERVICES: dict[str, list[str]] = {"aaa": ["cisco.aaa"], "bgp": ["cisco.ios"], "ldp": ["cisco.ios"]}


def native_dataset(ls: SigmaLogSource) -> str:
    """The ``event.dataset`` of a native source: ``product.service`` (a dotted service is already
    a dataset, ``gcp.audit``), else ``product.category``, else the product."""
    if ls.service and "." in ls.service:
        return ls.service
    return ".".join(p for p in (ls.product, ls.service or ls.category) if p)


def route_for(ls: SigmaLogSource) -> Route | None:
    """The route of a non-Windows logsource, or None when no event of ours can match it."""
    product, category, service = ls.product, ls.category, ls.service
    if product is None:
        if category == "webserver" and not service:
            return Route("webserver", {"event.category": "web"}, WEBSERVER_FIELDS)
        if category is None and service in ("apache", "nginx"):
            return Route(f"{service}/error", {"event.dataset": f"{service}.error"})
        if category == "proxy":
            return Route("proxy", {"observer.type": "proxy"}, PROXY_FIELDS)
        if category == "dns":
            return Route("dns", {"network.protocol": "dns"}, DNS_FIELDS)
        if category == "firewall":
            return Route("firewall", {"event.category": "network", "observer.type": "firewall"}, FIREWALL_FIELDS)
        if category == "antivirus":
            return Route("antivirus", {"event.category": "malware"}, ANTIVIRUS_FIELDS)
        # Vigie's own categories, for rules written directly in ECS field names: authentications
        # from any source (sshd, PAM, CEF/LEEF appliances, Windows logons), network flows from
        # any sensor (Zeek conn, Suricata flow, NetFlow/IPFIX, firewalls).
        if category == "authentication":
            return Route("authentication", {"event.category": "authentication"})
        if category == "network_connection":
            return Route("flows", {"event.category": "network", "event.type": "connection"})
        if category is None and service is None:
            return None
    if product == "linux":
        if category:
            return _endpoint("linux", category)
        if service == "auditd":
            return Route("linux/auditd", {"event.dataset": "auditd.log"}, prefix=AUDITD_PREFIX)
        if service is None:
            return Route("linux", {"event.dataset": ["system.auth", "system.syslog"]})
        if service in LINUX_SERVICES:
            return Route(f"linux/{service}", {"event.dataset": LINUX_SERVICES[service]})
    if product == "macos" and category:
        return _endpoint("macos", category)
    if product is None or (product in ("linux", "macos")):
        return None
    if product == "cisco" and category is None and service in CISCO_SERVICES:
        return Route(f"cisco/{service}", {"event.dataset": CISCO_SERVICES[service]})
    return Route(f"native/{native_dataset(ls)}", {"event.dataset": native_dataset(ls)})


def route_pipeline(route: Route) -> ProcessingPipeline:
    items = [ProcessingItem(identifier=f"vigie_route_{route.name}",
                            transformation=AddConditionTransformation(dict(route.conditions)))]
    if route.fields:
        items.append(ProcessingItem(identifier="vigie_ecs_fields",
                                    transformation=FieldMappingTransformation(dict(route.fields))))
    return ProcessingPipeline(name=f"Vigie: {route.name}", priority=20, items=items)


#: Sigma's Zeek services (log names) whose Filebeat fileset, and so ``event.dataset``, is named otherwise
ZEEK_FILESETS: dict[str, str] = {"conn": "connection"}


def zeek_pipeline() -> ProcessingPipeline:
    """``ecs_zeek_beats``, after a pipeline that renames the services of ``ZEEK_FILESETS`` (and
    the categories it maps to them), so that its ``event.dataset: zeek.$service`` condition
    names Filebeat's fileset."""
    renames: list[ProcessingItem] = []
    for log, fileset in ZEEK_FILESETS.items():
        conditions = [LogsourceCondition(product="zeek", service=log)]
        conditions += [LogsourceCondition(category=category)
                       for category, service in ecs_zeek_beats_category_service_mapping.items() if service == log]
        renames += [ProcessingItem(identifier=f"vigie_zeek_service_{log}_as_{fileset}",
                                   transformation=ChangeLogsourceTransformation(product="zeek", service=fileset),
                                   rule_conditions=[condition]) for condition in conditions]
    return ProcessingPipeline(name="Vigie: Zeek filesets", priority=10, items=renames) + ecs_zeek_beats()


def ecs_field(route: Route | None, name: str) -> str:
    """Our event field for a Sigma field name on a route (used for correlation group-by fields)."""
    if route is None:
        return name
    mapped = route.fields.get(name)
    if isinstance(mapped, str):
        return mapped
    return route.prefix + name if route.prefix and "." not in name else name
