"""The ENISA Reference Security Incident Taxonomy (RSIT, the ENISA/TF-CSIRT task force's working
copy, as in MISP's ``rsit`` taxonomy version 1003): 11 classes and their types.

An incident's class is stored as ``class:type`` (``fraud:phishing``). The labels are English
message ids (``N_``) shown in the reader's language; the French ones are in the catalogue.
Two types keep the values Vigie has always stored, named after the RSIT's labels
(``intrusion-attempts:login-attempts``, ``intrusion-attempts:exploit-known-vuln``); MISP's
machine values for them (``brute-force``, ``ids-alert``) are read as the same types and given
back by ``misp_value``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cert.core.errors import N_, InvalidInput


@dataclass(frozen=True)
class RsitType:
    value: str  # "class:type"
    label: str  # English message id


@dataclass(frozen=True)
class RsitClass:
    value: str
    label: str
    types: tuple[RsitType, ...]


def _c(value: str, label: str, *types: tuple[str, str]) -> RsitClass:
    return RsitClass(value, label, tuple(RsitType(f"{value}:{t}", lbl) for t, lbl in types))


TAXONOMY: tuple[RsitClass, ...] = (
    _c("abusive-content", N_("Abusive content"),
       ("spam", N_("Spam")), ("harmful-speech", N_("Harmful speech")),
       ("violence", N_("(Child) sexual exploitation, sexual or violent content"))),
    _c("malicious-code", N_("Malicious code"),
       ("infected-system", N_("Infected system")), ("c2-server", N_("C2 server")),
       ("malware-distribution", N_("Malware distribution")),
       ("malware-configuration", N_("Malware configuration"))),
    _c("information-gathering", N_("Information gathering"),
       ("scanner", N_("Scanning")), ("sniffing", N_("Sniffing")),
       ("social-engineering", N_("Social engineering"))),
    _c("intrusion-attempts", N_("Intrusion attempts"),
       ("exploit-known-vuln", N_("Exploitation of known vulnerabilities")),
       ("login-attempts", N_("Login attempts")), ("new-attack-signature", N_("New attack signature"))),
    _c("intrusions", N_("Intrusions"),
       ("privileged-account-compromise", N_("Privileged account compromise")),
       ("unprivileged-account-compromise", N_("Unprivileged account compromise")),
       ("application-compromise", N_("Application compromise")),
       ("system-compromise", N_("System compromise")), ("burglary", N_("Burglary"))),
    _c("availability", N_("Availability"),
       ("dos", N_("Denial of service")), ("ddos", N_("Distributed denial of service")),
       ("misconfiguration", N_("Misconfiguration")), ("sabotage", N_("Sabotage")), ("outage", N_("Outage"))),
    _c("information-content-security", N_("Information content security"),
       ("unauthorised-information-access", N_("Unauthorised access to information")),
       ("unauthorised-information-modification", N_("Unauthorised modification of information")),
       ("data-loss", N_("Data loss")), ("data-leak", N_("Leak of confidential information"))),
    _c("fraud", N_("Fraud"),
       ("unauthorised-use-of-resources", N_("Unauthorised use of resources")), ("copyright", N_("Copyright")),
       ("masquerade", N_("Masquerade")), ("phishing", N_("Phishing"))),
    _c("vulnerable", N_("Vulnerable"),
       ("weak-crypto", N_("Weak cryptography")), ("ddos-amplifier", N_("DDoS amplifier")),
       ("potentially-unwanted-accessible", N_("Potentially unwanted accessible services")),
       ("information-disclosure", N_("Information disclosure")),
       ("vulnerable-system", N_("Vulnerable system"))),
    _c("other", N_("Other"), ("other", N_("Uncategorised")), ("undetermined", N_("Undetermined"))),
    _c("test", N_("Test"), ("test", N_("Test"))),
)

TYPES: dict[str, RsitType] = {t.value: t for c in TAXONOMY for t in c.types}
CLASS_OF: dict[str, RsitClass] = {t.value: c for c in TAXONOMY for t in c.types}

#: MISP's machine values (``rsit`` taxonomy) that Vigie stores under another name
_MISP_ALIASES = {
    "intrusion-attempts:brute-force": "intrusion-attempts:login-attempts",
    "intrusion-attempts:ids-alert": "intrusion-attempts:exploit-known-vuln",
    "intrusion-attempts:exploit": "intrusion-attempts:new-attack-signature",
}
_TO_MISP = {v: k for k, v in _MISP_ALIASES.items()}


def validate(value: str | None) -> str:
    """The stored form of an RSIT type (``class:type``), from any case and with MISP's machine
    values or the ``rsit:`` prefix accepted; "" (unclassified) for an empty value. InvalidInput
    for anything else."""
    raw = (value or "").strip()
    if not raw:
        return ""
    name = raw.lower().removeprefix("rsit:").replace('="', ":").replace('"', "").replace(" ", "")
    name = _MISP_ALIASES.get(name, name)
    if name not in TYPES:
        raise InvalidInput(N_("%(value)s is not an RSIT incident type (class:type, for example fraud:phishing)."),
                           value=raw[:100])
    return name


def label(value: str) -> str:
    """The English label (a message id) of a stored type; the value itself when unknown."""
    found = TYPES.get(value)
    return found.label if found else value


def class_label(value: str) -> str:
    """The English label of the class of a stored type; "" when unknown."""
    found = CLASS_OF.get(value)
    return found.label if found else ""


def misp_value(value: str) -> str:
    """The MISP machine tag of a stored type: ``rsit:fraud="phishing"``."""
    name = _TO_MISP.get(value, value)
    klass, _, kind = name.partition(":")
    return f'rsit:{klass}="{kind}"'
