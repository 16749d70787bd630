"""Incident templates: what an incident of one kind starts with (severity, TLP, PAP, RSIT class,
tasks with their due time, playbooks to offer), the defaults a national CERT needs, and their
administration. A template's names and tasks are written in French and English; the tasks an
incident gets are written in the language of whoever opens it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.core.tlp import PAP, TLP
from cert.incidents import rsit
from cert.incidents.cases import SEVERITIES
from cert.storage import audit
from cert.storage.models import IncidentTemplate

LANGUAGES = ("fr", "en")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_PLAYBOOK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
MAX_TASKS = 50


@dataclass(frozen=True)
class TaskSpec:
    title: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    due_hours: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "due_hours": self.due_hours}


@dataclass(frozen=True)
class TemplateSpec:
    """A template as given (validated by ``check``)."""

    key: str
    names: dict[str, str]
    rsit_class: str = ""
    severity: str = "medium"
    tlp: str = "amber"
    pap: str = "amber"
    tasks: list[TaskSpec] = field(default_factory=list)
    playbooks: list[str] = field(default_factory=list)


def _texts(value: Mapping[str, str], what: str, max_len: int, required: bool) -> dict[str, str]:
    out = {lang: str(value.get(lang, "") or "").strip() for lang in LANGUAGES}
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise InvalidInput(N_("%(field)s: only the languages fr and en are known."), field=what)
    if required and not all(out.values()):
        raise InvalidInput(N_("%(field)s is needed in French and in English."), field=what)
    if any(len(v) > max_len for v in out.values()):
        raise InvalidInput(N_("%(field)s is at most %(max)s characters."), field=what, max=max_len)
    return out


def check(spec: TemplateSpec) -> TemplateSpec:
    """``spec`` in its stored form; InvalidInput saying what is wrong."""
    key = spec.key.strip().lower()
    if not _KEY.match(key):
        raise InvalidInput(N_("A template key is lower-case letters, digits and hyphens (at most 80)."))
    if spec.severity not in SEVERITIES:
        raise InvalidInput(N_("Unknown severity %(value)s (expected one of %(values)s)."),
                           value=spec.severity[:40], values=", ".join(SEVERITIES))
    if len(spec.tasks) > MAX_TASKS:
        raise InvalidInput(N_("At most %(max)s tasks."), max=MAX_TASKS)
    tasks = []
    for task in spec.tasks:
        if task.due_hours is not None and not 0 <= task.due_hours <= 24 * 365:
            raise InvalidInput(N_("A task's due time is between 0 and %(max)s hours."), max=24 * 365)
        tasks.append(TaskSpec(_texts(task.title, "title", 300, True), _texts(task.description, "description",
                                                                           5000, False), task.due_hours))
    for book in spec.playbooks:
        if not _PLAYBOOK.match(book):
            raise InvalidInput(N_("%(value)s is not a playbook id."), value=book[:80])
    return TemplateSpec(key, _texts(spec.names, "names", 200, True), rsit.validate(spec.rsit_class), spec.severity,
                        TLP.parse(spec.tlp).tag_value, PAP.parse(spec.pap).name.lower(), tasks,
                        list(dict.fromkeys(spec.playbooks)))


def _write(row: IncidentTemplate, spec: TemplateSpec, actor: str) -> None:
    row.names, row.rsit_class, row.severity = spec.names, spec.rsit_class, spec.severity
    row.tlp, row.pap, row.playbooks = spec.tlp, spec.pap, spec.playbooks
    row.tasks = [t.as_dict() for t in spec.tasks]
    row.updated_by = actor


def list_templates(s: Session) -> list[IncidentTemplate]:
    return list(s.scalars(select(IncidentTemplate).order_by(IncidentTemplate.key)))


def get_template(s: Session, key: str) -> IncidentTemplate:
    row = s.scalar(select(IncidentTemplate).where(IncidentTemplate.key == key))
    if row is None:
        raise NotFound(N_("There is no incident template %(key)s."), key=key[:80])
    return row


def create_template(s: Session, spec: TemplateSpec, actor: str, remote_addr: str = "") -> IncidentTemplate:
    spec = check(spec)
    if s.scalar(select(IncidentTemplate.id).where(IncidentTemplate.key == spec.key)) is not None:
        raise Conflict(N_("An incident template %(key)s exists already."), key=spec.key)
    row = IncidentTemplate(key=spec.key)
    _write(row, spec, actor)
    s.add(row)
    s.flush()
    audit.record(s, actor, "incident_template.create", "incident_template", row.id, remote_addr, key=spec.key)
    return row


def update_template(s: Session, key: str, spec: TemplateSpec, actor: str, remote_addr: str = "") -> IncidentTemplate:
    """Replace a template's content (its key stays)."""
    row = get_template(s, key)
    _write(row, check(TemplateSpec(row.key, spec.names, spec.rsit_class, spec.severity, spec.tlp, spec.pap,
                                   spec.tasks, spec.playbooks)), actor)
    audit.record(s, actor, "incident_template.update", "incident_template", row.id, remote_addr, key=row.key)
    return row


def delete_template(s: Session, key: str, actor: str, remote_addr: str = "") -> None:
    row = get_template(s, key)
    audit.record(s, actor, "incident_template.delete", "incident_template", row.id, remote_addr, key=row.key)
    s.delete(row)


def spec_of(row: IncidentTemplate) -> TemplateSpec:
    tasks = [TaskSpec(dict(t.get("title") or {}), dict(t.get("description") or {}), t.get("due_hours"))
             for t in row.tasks or []]
    return TemplateSpec(row.key, dict(row.names or {}), row.rsit_class, row.severity, row.tlp, row.pap, tasks,
                        list(row.playbooks or []))


def name_in(row: IncidentTemplate, lang: str) -> str:
    names = row.names or {}
    return names.get(lang) or names.get("en") or names.get("fr") or row.key


def _t(fr: str, en: str, hours: int | None = None, dfr: str = "", den: str = "") -> TaskSpec:
    return TaskSpec({"fr": fr, "en": en}, {"fr": dfr, "en": den} if dfr or den else {}, hours)


_QUALIFY = _t("Qualifier l'incident et confirmer le périmètre", "Qualify the incident and confirm its scope", 4)
_NOTIFY = _t("Informer le point focal de l'organisation", "Inform the organisation's focal point", 8)
_LESSONS = _t("Rédiger le retour d'expérience", "Write the lessons learned", 24 * 14)

DEFAULTS: tuple[TemplateSpec, ...] = (
    TemplateSpec("phishing", {"fr": "Hameçonnage", "en": "Phishing"}, "fraud:phishing", "medium", "amber", "amber", [
        _QUALIFY,
        _t("Collecter le courriel d'origine avec ses en-têtes", "Collect the original e-mail with its headers", 4),
        _t("Demander le retrait du site d'hameçonnage", "Request the takedown of the phishing site", 24),
        _t("Identifier les destinataires qui ont cliqué ou saisi leurs identifiants",
           "Identify the recipients who clicked or entered their credentials", 24),
        _NOTIFY]),
    TemplateSpec("malware-infection", {"fr": "Infection par un logiciel malveillant", "en": "Malware infection"},
                 "malicious-code:infected-system", "high", "amber", "amber", [
        _QUALIFY,
        _t("Isoler le poste infecté", "Isolate the infected host", 2),
        _t("Collecter un échantillon et les journaux du poste", "Collect a sample and the host's logs", 8),
        _t("Rechercher les autres postes en contact avec les serveurs de commande",
           "Hunt for other hosts talking to the command servers", 24),
        _t("Réinstaller ou nettoyer le poste", "Rebuild or clean the host", 72),
        _LESSONS]),
    TemplateSpec("web-compromise", {"fr": "Défiguration ou compromission de site web",
                                    "en": "Web defacement or compromise"},
                 "intrusions:application-compromise", "high", "amber", "amber", [
        _QUALIFY,
        _t("Sauvegarder les journaux du serveur web et une copie du site",
           "Preserve the web server's logs and a copy of the site", 4),
        _t("Retirer le contenu malveillant ou basculer sur une page de maintenance",
           "Remove the malicious content or switch to a maintenance page", 8),
        _t("Identifier la vulnérabilité exploitée et la corriger",
           "Identify the exploited vulnerability and fix it", 48),
        _NOTIFY, _LESSONS], ["web-attack-response"]),
    TemplateSpec("ddos", {"fr": "Déni de service distribué", "en": "Distributed denial of service"},
                 "availability:ddos", "high", "amber", "green", [
        _QUALIFY,
        _t("Mesurer le trafic et identifier les vecteurs d'attaque", "Measure the traffic and identify the vectors", 2),
        _t("Demander le filtrage à l'opérateur de transit", "Ask the transit provider for filtering", 4),
        _NOTIFY, _LESSONS]),
    TemplateSpec("account-compromise", {"fr": "Force brute ou compromission de compte",
                                        "en": "Brute force or account compromise"},
                 "intrusions:unprivileged-account-compromise", "high", "amber", "amber", [
        _QUALIFY,
        _t("Bloquer les adresses sources", "Block the source addresses", 2),
        _t("Réinitialiser les mots de passe des comptes visés", "Reset the passwords of the targeted accounts", 4),
        _t("Vérifier les connexions réussies depuis les adresses sources",
           "Check for successful logins from the source addresses", 8),
        _NOTIFY], ["brute-force-response"]),
    TemplateSpec("data-leak", {"fr": "Fuite de données", "en": "Data leak"},
                 "information-content-security:data-leak", "critical", "red", "red", [
        _QUALIFY,
        _t("Évaluer la nature et le volume des données exposées", "Assess the kind and volume of the exposed data", 8),
        _t("Faire retirer les données publiées", "Have the published data removed", 24),
        _t("Évaluer l'obligation de notification à l'autorité de protection des données",
           "Assess the duty to notify the data protection authority", 48,
           "72 heures après la prise de connaissance au titre du RGPD.",
           "72 hours after becoming aware, under the GDPR."),
        _NOTIFY, _LESSONS]),
    TemplateSpec("vulnerable-service", {"fr": "Service vulnérable exposé", "en": "Vulnerable exposed service"},
                 "vulnerable:vulnerable-system", "medium", "amber", "green", [
        _QUALIFY,
        _t("Notifier le propriétaire du service", "Notify the service's owner", 24),
        _t("Vérifier l'application du correctif", "Check that the patch is applied", 24 * 7)]),
    TemplateSpec("scanning", {"fr": "Balayage réseau", "en": "Scanning"},
                 "information-gathering:scanner", "low", "green", "green", [
        _t("Vérifier si le balayage a précédé une intrusion", "Check whether the scan preceded an intrusion", 24),
        _t("Signaler la source à son fournisseur d'accès", "Report the source to its network provider", 48)]),
)


def ensure_defaults(s: Session, actor: str = "system") -> list[str]:
    """Add the default templates that are missing (by key); the keys added. A template an admin
    changed or deleted is left as it is only while its key is present: a deleted default comes
    back at the next setup."""
    present = set(s.scalars(select(IncidentTemplate.key)))
    added = []
    for spec in DEFAULTS:
        if spec.key not in present:
            row = IncidentTemplate(key=spec.key)
            _write(row, check(spec), actor)
            s.add(row)
            added.append(spec.key)
    return added
