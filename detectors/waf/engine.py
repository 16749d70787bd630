"""ModSecurity (libmodsecurity 3, through the ``libmodsecurity`` bindings) loaded with the OWASP
Core Rule Set's request rules and Vigie's access-log rules, evaluating the requests that access
log lines describe.

The CRS comes from Debian's ``modsecurity-crs`` (the setting ``waf_crs_dir``); its paranoia level
is the CRS variable ``tx.paranoia_level`` (setting ``waf_paranoia_level``, 1 to 4) and a request
is an attack when its inbound anomaly score (the CRS's points per severity of the rules that
fired: critical 5, error 4, warning 3, notice 2) reaches ``waf_anomaly_threshold`` (the CRS's
``tx.inbound_anomaly_score_threshold``, default 5), the CRS's own blocking decision. libinjection,
the SQL injection and XSS tokenizer inside ModSecurity, runs through the CRS rules that call the
``@detectSQLi`` and ``@detectXSS`` operators (942100, 941100, 941101).

What an access log cannot tell is left out: the IP-reputation file (GeoIP), the multipart and body
rules (no body in a log line), and the protocol rules that judge headers a log does not record
(``EXCLUDED_RULES``). ``Host`` is the event's ``destination.domain`` or ``url.domain`` when set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from libmodsecurity import ModSecurity, RuleMessage, RulesSet, Transaction

from cert.core.errors import ConfigError

# Files of the CRS that need what a log line lacks: GeoIP (910), request bodies (922).
SKIPPED_FILES = ("REQUEST-910-IP-REPUTATION.conf", "REQUEST-922-MULTIPART-ATTACK.conf")
# Rules on headers an access log does not record (their absence in the log is no evidence):
# missing or empty Host (920280, 920290), Accept (920300, 920310, 920311), User-Agent (920320,
# 920330), a numeric Host (920350), and the missing Content-Type of a body-less POST (920340).
EXCLUDED_RULES = (920280, 920290, 920300, 920310, 920311, 920320, 920330, 920340, 920350)
# Rules that only compute the anomaly score or report it: not findings of their own.
SCORE_RULES = frozenset({949110, 949111, 959100, 980130, 980140, 901001})
# The CRS's extension policy (tx.restricted_extensions): a file with such an extension that the
# server served (2xx, 304) is content the site publishes (a .log or .conf download), not a probe;
# the finding is kept but does not count toward the score.
SITE_POLICY_RULES = frozenset({920440})
# The CRS's anomaly points per rule severity (crs-setup.conf, tx.critical_anomaly_score...).
SEVERITY_POINTS = {2: 5, 3: 4, 4: 3, 5: 2}
LIBINJECTION_RULES = frozenset({942100, 941100, 941101})
# The client address of a request whose log line has none (an address, not a socket bound).
UNKNOWN_CLIENT = "0.0.0.0"  # noqa: S104
VIGIE_RULES = Path(__file__).resolve().parents[2] / "rules" / "modsecurity" / "vigie-access-log.conf"


def crs_files(crs_dir: Path) -> list[Path]:
    """The CRS request rule files of ``crs_dir`` that apply to a log line, in load order."""
    return sorted(p for p in crs_dir.glob("REQUEST-9*.conf") if p.name not in SKIPPED_FILES)


def has_crs(crs_dir: Path) -> bool:
    """Whether ``crs_dir`` holds the CRS's request rules."""
    return bool(crs_files(crs_dir))


@dataclass(frozen=True)
class Request:
    """What an access log line says of a request: the request target as logged, the headers it
    records, the client and the response status."""

    uri: str
    method: str = "GET"
    version: str = "1.1"
    headers: tuple[tuple[str, str], ...] = ()
    client: str = UNKNOWN_CLIENT
    status: int | None = None


@dataclass(frozen=True)
class Finding:
    """One rule that fired on a request: its id and message, the ruleset and engine, the
    matched data, the severity (syslog scale, 0 emergency to 7 debug) and tags."""

    rule_id: int
    message: str
    ruleset: str
    engine: str
    data: str
    severity: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The findings on one request and its inbound anomaly score."""

    findings: tuple[Finding, ...] = ()
    score: int = 0
    attack: bool = False


@dataclass
class Engine:
    """One ModSecurity engine and compiled rules; ``evaluate`` is safe from several threads
    (each call is its own transaction)."""

    crs_dir: Path
    paranoia_level: int = 1
    anomaly_threshold: int = 5
    extra_rules: Sequence[Path] = (VIGIE_RULES,)
    excluded_rules: Sequence[int] = ()  # the operator's exclusions (setting waf_excluded_rules)
    crs_version: str = field(init=False, default="")
    rules_loaded: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not 1 <= self.paranoia_level <= 4:
            raise ConfigError(f"waf_paranoia_level must be 1 to 4 (the CRS paranoia levels), not {self.paranoia_level}")
        if self.anomaly_threshold < 1:
            raise ConfigError(f"waf_anomaly_threshold must be at least 1, not {self.anomaly_threshold}")
        files = crs_files(self.crs_dir)
        if not files:
            raise ConfigError(f"no OWASP CRS rules in {self.crs_dir} (Debian package modsecurity-crs)")
        self.modsec = ModSecurity()
        self.modsec.set_connector_information("Vigie access-log detector")
        self.modsec.set_log_callback(_discard)
        self.rules = RulesSet()
        self._load(self._setup(), "setup")
        for path in [*files, *self.extra_rules]:
            n = self.rules.load_from_uri(str(path))
            if n < 0:
                raise ConfigError(f"ModSecurity rejected {path}: {self.rules.get_parser_error().strip()}")
            self.rules_loaded += n
        excluded = (*EXCLUDED_RULES, *self.excluded_rules)
        self._load("".join(f"SecRuleRemoveById {i}\n" for i in excluded), "exclusions")
        self.crs_version = _crs_version(files)

    def _setup(self) -> str:
        # The CRS setup (crs-setup.conf's directives), with the paranoia level and threshold set.
        return (
            "SecRuleEngine DetectionOnly\n"
            "SecRequestBodyAccess On\n"
            "SecResponseBodyAccess Off\n"
            'SecDefaultAction "phase:1,log,auditlog,pass"\n'
            'SecDefaultAction "phase:2,log,auditlog,pass"\n'
            f'SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={self.paranoia_level}"\n'
            f'SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold='
            f'{self.anomaly_threshold}"\n'
            'SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"\n'
        )

    def _load(self, text: str, what: str) -> None:
        if self.rules.load(text) < 0:
            raise ConfigError(f"ModSecurity rejected the {what}: {self.rules.get_parser_error().strip()}")

    def evaluate(self, request: Request) -> Verdict:
        t = Transaction(self.modsec, self.rules)
        t.process_connection(request.client, 0, "127.0.0.1", 80)
        t.process_uri(request.uri, request.method, request.version)
        for name, value in request.headers:
            t.add_request_header(name, value)
        t.process_request_headers()
        t.process_request_body()
        t.process_logging()
        findings = [self._finding(m) for m in t.get_rule_messages() if m.rule_id not in SCORE_RULES]
        served = request.status is not None and 200 <= request.status < 400
        score = sum(SEVERITY_POINTS.get(f.severity, 0) for f in findings
                    if not (served and f.rule_id in SITE_POLICY_RULES))
        return Verdict(tuple(findings), score, score >= self.anomaly_threshold)

    def _finding(self, m: RuleMessage) -> Finding:
        vigie = "vigie" in m.tags
        ruleset = "Vigie access-log rules" if vigie else f"OWASP CRS {self.crs_version}"
        engine = "libinjection" if m.rule_id in LIBINJECTION_RULES else "ModSecurity"
        data = _text(m, "data") or _text(m, "match")
        return Finding(rule_id=m.rule_id, message=_text(m, "message"), ruleset=ruleset, engine=engine,
                       data=data[:300], severity=m.severity, tags=tuple(m.tags))


def _text(m: RuleMessage, name: str) -> str:
    """A text attribute of a rule message; the bindings raise on bytes that are not UTF-8 (a
    matched overlong sequence), which then reads as empty."""
    try:
        return str(getattr(m, name))
    except UnicodeDecodeError:
        return ""


def _discard(_: str) -> None:
    """ModSecurity's server-log lines: the rule messages carry the same facts."""


def _crs_version(files: Sequence[Path]) -> str:
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "ver:'OWASP_CRS/" in line or 'ver:"OWASP_CRS/' in line or "ver:OWASP_CRS/" in line:
                    return line.split("OWASP_CRS/", 1)[1].split("'")[0].split('"')[0].split(",")[0].strip()
    return "unknown"
