"""Configuration: one TOML file plus environment overrides.

Precedence, highest first: environment (``CERT_*``), the TOML file, the defaults. The defaults
give the embedded mode: everything under one data directory, no servers.
Production is selected by ``CERT_ELASTICSEARCH_URL``, ``CERT_REDIS_URL`` and ``CERT_DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cert.core.errors import ConfigError
from cert.core.tlp import PAP, TLP

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "CERT_"
# settings holding a list whose default (None) is decided elsewhere
OPTIONAL_LISTS = frozenset({"totp_required_roles"})
# settings never shown or logged: redacted() prints *** instead
SECRET_SETTINGS = frozenset({"secret_key", "oidc_client_secret", "response_ldap_password", "smtp_password",
                             "notify_gpg_passphrase"})
#: settings holding a list of tables (TOML ``[[name]]``, or a JSON list in the environment)
TABLE_LISTS = frozenset({"taxii_sources", "misp_feeds"})
#: keys of those tables never shown or logged
SECRET_TABLE_KEYS = frozenset({"password", "token", "headers"})
#: the severities an SLA target is set for, least urgent first
SLA_SEVERITIES = ("informational", "low", "medium", "high", "critical")
#: settings holding an SLA target in minutes per severity; a file or the environment may set some
#: severities only, the others keep their defaults
SLA_SETTINGS = frozenset({"sla_acknowledge_minutes", "sla_contain_minutes", "sla_resolve_minutes",
                          "notify_ack_minutes"})


def _default_rules_dir() -> Path:
    return PROJECT_ROOT / "rules"


def _default_playbooks_dir() -> Path:
    return PROJECT_ROOT / "playbooks"


def _minutes(critical: int, high: int, medium: int, low: int, informational: int) -> dict[str, int]:
    return {"critical": critical, "high": high, "medium": medium, "low": low, "informational": informational}


def _default_sla_acknowledge() -> dict[str, int]:
    return _minutes(15, 60, 4 * 60, 24 * 60, 3 * 24 * 60)


def _default_sla_contain() -> dict[str, int]:
    return _minutes(4 * 60, 8 * 60, 24 * 60, 3 * 24 * 60, 14 * 24 * 60)


def _default_sla_resolve() -> dict[str, int]:
    return _minutes(24 * 60, 3 * 24 * 60, 7 * 24 * 60, 14 * 24 * 60, 30 * 24 * 60)


def _default_notify_ack() -> dict[str, int]:
    return _minutes(60, 4 * 60, 24 * 60, 3 * 24 * 60, 7 * 24 * 60)



@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    elasticsearch_url: str = ""
    redis_url: str = ""
    database_url: str = ""
    secret_key: str = ""
    index_prefix: str = "vigie"
    rules_dir: Path = field(default_factory=_default_rules_dir)
    playbooks_dir: Path = field(default_factory=_default_playbooks_dir)
    corpora_dir: Path = PROJECT_ROOT.parent / "shared" / "corpora"
    constituency_file: Path | None = None
    # how often (seconds) each process checks whether the contact database was edited
    constituency_refresh_seconds: float = 2.0
    # GeoIP: local MaxMind-format databases (GeoLite2-City / GeoLite2-ASN); never downloaded
    geoip_city_file: Path | None = None
    geoip_asn_file: Path | None = None
    plugins: tuple[str, ...] = ("ingest.parsers", "ingest.listeners", "detectors", "playbooks.steps",
                                "cert.sharing.targets")
    org_name: str = "CERT"
    org_uuid: str = "5b7d3b6c-0a3e-4c57-9d8e-6f1f0c6a9e01"
    # TAXII 2.1 server: the most objects one page of a partner's collection holds (a larger limit is cut)
    taxii_max_page_size: int = 500
    share_tlp_ceiling: TLP = TLP.AMBER
    # the PAP the community of the MISP feed folder honours (red: every PAP marking, each attribute
    # carrying its own PAP: tag)
    share_pap: PAP = PAP.RED
    alert_suppression_minutes: int = 60
    # anomaly detection: how long an analyst's "benign" mark lasts unless they give a duration
    anomaly_benign_days: int = 90
    # Sigma: extra rule trees loaded alongside rules/sigma (e.g. a SigmaHQ release), and
    # a YAML file of placeholder values for the ``expand`` modifier ({name: [values]})
    sigma_paths: tuple[str, ...] = ()
    sigma_placeholders_file: Path | None = None
    # compiled Sigma rules (detectors.sigma.cache); load_settings sets DATA_DIR/cache, which a run
    # on a data directory of its own (cert investigate) keeps using
    sigma_cache_dir: Path | None = None
    # YARA: event fields scanned by the yara_payloads detector, per-scan timeout,
    # largest file uploaded to a case or scanned in a watched folder
    yara_payload_fields: tuple[str, ...] = ("powershell.file.script_block_text", "http.request.body.content",
                                            "http.response.body.content", "process.command_line")
    yara_timeout_seconds: int = 10
    yara_max_file_mb: int = 64
    # Web attacks in access logs (detectors/waf): the OWASP Core Rule Set's rules folder (Debian's
    # modsecurity-crs), its paranoia level (1 to 4, as the CRS defines them) and inbound anomaly
    # threshold; scanning by behaviour: a source with waf_probe_min_404 distinct paths answered
    # 404 within waf_probe_window_seconds.
    # Paranoia level 2, less three of its rules: at level 1 the CRS misses remote file inclusion to
    # another domain (931130) and comment forms of SQL injection. Excluded: 913101 (scripting and
    # generic HTTP clients: curl, python-requests...) and 913102 (crawlers), 79 of level 2's 81
    # false alerts on the corpora's 10,000 real Apache lines (BENCHMARKS.md, "Web attacks"), a
    # government API's clients being scripts; and 942380, which flags SQL words alone ("order by",
    # "from ... limit") in any parameter, so a citizen's search sorted "order by date". Attack
    # tools' user agents (913100) and libinjection's SQL detection (942100) stay.
    waf_crs_dir: Path = Path("/usr/share/modsecurity-crs/rules")
    waf_paranoia_level: int = 2
    waf_excluded_rules: tuple[str, ...] = ("913101", "913102", "942380")  # rule ids; "none" for none
    waf_anomaly_threshold: int = 5
    waf_probe_min_404: int = 20
    waf_probe_window_seconds: int = 300
    # Anomaly detection in DNS (detectors/anomaly/dga.py, dns_tunnel.py). DGA: a registered domain
    # looks generated when the model scores it at least anomaly_dga_threshold (0: the threshold
    # recorded with the model, set for a 0.05 % false-positive rate on legitimate names held back
    # from training); a source is raised when it queried anomaly_dga_min_domains such domains.
    # Tunnelling: a (source, registered domain) with at least anomaly_dns_tunnel_min_queries
    # queries is raised when its score (0..1: subdomain length, unique subdomains, their entropy,
    # TXT/NULL/CNAME share) reaches anomaly_dns_tunnel_threshold.
    anomaly_dga_threshold: float = 0.0
    anomaly_dga_min_domains: int = 3
    anomaly_dns_tunnel_threshold: float = 0.6
    anomaly_dns_tunnel_min_queries: int = 30
    # Anomaly detection on hosts (detectors.anomaly.rare_windows, detectors.anomaly.volume).
    # rare_windows: nothing is raised for this many hours after the detector first runs (the
    # baseline builds); behaviour not seen for this many days is forgotten; a behaviour new on a
    # host is raised when at most this percentage of the constituency's other hosts showed it;
    # at most this many behaviours are kept per host and kind (the least recently seen go first).
    anomaly_rare_windows_learning_hours: int = 168
    anomaly_rare_windows_retention_days: int = 30
    anomaly_rare_windows_max_prevalence_percent: int = 10
    anomaly_rare_windows_max_entries: int = 5000
    # volume: windows of this many seconds per host and per organisation; a window is raised when
    # one measure (bytes out, connections, distinct destinations or ports) stands this many robust
    # standard deviations (median/MAD, on log scale) above the entity's own baseline; an entity is
    # scored once it has this many windows of history, of which at most this many are kept.
    anomaly_volume_window_seconds: int = 300
    anomaly_volume_threshold: int = 6
    anomaly_volume_min_history: int = 24
    anomaly_volume_max_history: int = 2016
    keep_original: bool = True
    spool_max_mb: int = 1024  # on-disk queue (DATA_DIR/spool) while the event store is unreachable
    ingest_api_max_mb: int = 8  # largest body of POST /api/v1/ingest/<parser> and /api/v1/events (413 above)
    # console sessions: the cookie is sent over HTTPS only (``cert demo`` turns it off: plain http
    # on the loopback); a session ends after this long without a request, or this long after login;
    # the rows of ended or timed-out sessions are deleted this many days later (0: kept)
    session_cookie_secure: bool = True
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    session_retention_days: int = 30
    password_min_length: int = 12
    # roles that must log in with a second factor (TOTP); None: admin and responder in
    # production, none in embedded mode. ``none`` (environment) or ``[]`` (TOML) requires it of no role.
    totp_required_roles: tuple[str, ...] | None = None
    # Single sign-on with an OpenID Connect provider (off while oidc_issuer is empty). The issuer
    # is the URL its discovery document is under (``<issuer>/.well-known/openid-configuration``).
    # Groups named in the ``oidc_groups_claim`` claim give the role (the highest one mapped) and,
    # optionally, the user's organisation (an organisation id of the constituency).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile email"
    oidc_groups_claim: str = "groups"
    oidc_provider_name: str = "SSO"
    # the callback URL registered at the provider (``https://<public host>/login/oidc/callback``),
    # for a console behind a reverse proxy; empty: built from the request's host
    oidc_redirect_uri: str = ""
    oidc_group_roles: dict[str, str] = field(default_factory=lambda: {
        "/vigie-analysts": "analyst", "/vigie-responders": "responder", "/vigie-admins": "admin"})
    oidc_group_organizations: dict[str, str] = field(default_factory=dict)
    # SLA targets per severity, in minutes from an incident's opening (an alert's raising): to
    # acknowledge it, to contain it, to resolve (close) it. TOML: ``[sla_acknowledge_minutes]``
    # ``critical = 10``; environment: ``CERT_SLA_ACKNOWLEDGE_MINUTES='{"critical": 10}'``
    sla_acknowledge_minutes: dict[str, int] = field(default_factory=_default_sla_acknowledge)
    sla_contain_minutes: dict[str, int] = field(default_factory=_default_sla_contain)
    sla_resolve_minutes: dict[str, int] = field(default_factory=_default_sla_resolve)
    # signed bundles for networks with no link between them (cert/sharing/signed_bundles.py): the
    # Ed25519 private key (PEM) this CERT signs its bundles with, and the public keys (PEM files)
    # of the partners whose bundles it accepts
    sharing_signing_key_file: Path | None = None
    sharing_trusted_keys: tuple[str, ...] = ()
    # response playbooks: what no action may ever touch (networks, domains and their subdomains,
    # accounts as "user:NAME": the CERT's own addresses, the resolvers, the constituency's
    # critical servers; loopback always), the most targets a step may take unless the playbook
    # says otherwise, and how long a run may go without a sign of life before it is failed
    response_protected: tuple[str, ...] = ()
    response_max_targets: int = 20
    response_run_timeout_seconds: int = 1800
    # seconds between two passes of the response timer (cert serve, cert worker) that undoes the
    # changes whose expiry has passed and fails stuck runs; 0: not run (cert playbooks expire does it)
    response_timer_seconds: int = 60
    # Anomaly detection, network (detectors/anomaly): networks counted as internal besides the
    # private ranges and the constituency's (CIDR, for a monitored network on public addresses);
    # beaconing (anomaly.beacon): score from which a pair is reported (percent), fewest calls
    # scored, calls per hour at which the frequency measure is full, internal sources calling a
    # destination from which it counts as common; scans (anomaly.scan): "SECONDS:COUNT" per
    # window, the distinct ports of one host (vertical) or hosts on one port (horizontal) probed
    # without an answer's payload, from which a source is reported, for external and internal sources
    anomaly_internal_networks: tuple[str, ...] = ()
    anomaly_beacon_threshold_percent: int = 85
    anomaly_beacon_min_connections: int = 6
    anomaly_beacon_calls_per_hour: int = 60
    anomaly_beacon_common_sources: int = 3
    anomaly_scan_ports: tuple[str, ...] = ("300:15", "3600:22", "86400:30")
    anomaly_scan_hosts: tuple[str, ...] = ("300:25", "3600:37", "86400:50")
    anomaly_scan_ports_internal: tuple[str, ...] = ("300:10", "3600:15", "86400:20")
    anomaly_scan_hosts_internal: tuple[str, ...] = ("300:15", "3600:22", "86400:30")
    # Response action block_ip (playbooks/steps/block_ip.py): the command that runs nft on the
    # gateway, split like a shell splits it and run without one ("nft" on this host, "ip netns
    # exec gw nft", "ssh -i /etc/vigie/gw_key root@gw nft"); the table Vigie owns there ("FAMILY
    # NAME", family inet, ip or ip6); the seconds one nft call may take; the gateway's name shown
    # to people in the dry run and the approval request
    response_nft_command: str = "nft"
    response_nft_table: str = "inet vigie"
    response_nft_timeout_seconds: float = 10.0
    response_nft_gateway: str = ""
    # Response action ``disable_account`` (playbooks/steps/disable_account.py, docs/response.md): the
    # directory (ldap:// or ldaps:// URL; StartTLS on an ldap:// URL when response_ldap_starttls; a CA
    # file to check its certificate, else the system's), the service account's DN and password (secret:
    # CERT_RESPONSE_LDAP_PASSWORD), the subtree and attribute an account name is looked up by,
    # "openldap" (ppolicy lock) or "active-directory" (userAccountControl), the seconds to wait for
    # the directory, and account names (or DNs) the action never disables.
    response_ldap_url: str = ""
    response_ldap_bind_dn: str = ""
    response_ldap_password: str = ""
    response_ldap_users_base: str = ""
    response_ldap_user_attribute: str = "uid"
    response_ldap_starttls: bool = False
    response_ldap_ca_file: Path | None = None
    response_ldap_flavour: str = "openldap"
    response_ldap_timeout_seconds: int = 10
    response_ldap_protected: tuple[str, ...] = ()
    # Response action sinkhole_domain on the constituency's Unbound resolver (docs/response.md).
    # The unbound-control command, split like a shell line (``unbound-control -c
    # /etc/unbound/unbound.conf -s 10.0.0.53@8953``); the addresses a sinkholed name answers (A,
    # AAAA; both empty: the name and everything under it answer NXDOMAIN); the file of Vigie's
    # sinkholes that unbound.conf includes so that they survive a restart (None: runtime only);
    # how long one unbound-control call may take.
    response_unbound_control: str = "unbound-control"
    response_unbound_sinkhole_a: str = ""
    response_unbound_sinkhole_aaaa: str = ""
    response_unbound_zones_file: Path | None = None
    response_unbound_timeout_seconds: int = 15
    rq_queue: str = "vigie"
    # background jobs (docs/response.md, "Jobs: retries, timeouts, restarts")
    job_modules: tuple[str, ...] = ()  # module prefixes, besides Vigie's packages, whose functions may run as jobs
    job_threads: int = 2  # embedded: worker threads of the process that serves the console
    job_lease_seconds: float = 30.0  # embedded: a running job not reported alive for this long is re-queued
    job_poll_seconds: float = 1.0  # embedded: how often idle workers look for jobs queued by other processes
    job_worker_ttl: int = 30  # production: a `cert worker` silent for this long is dead; its job runs again
    job_maintenance_seconds: int = 10  # production: how often `cert worker` re-queues abandoned and due jobs
    job_reconnect_max_seconds: float = 30.0  # production: longest pause between two attempts to reach Redis
    web_app: str = "web.app:create_app"
    # Partners' TAXII 2.1 collections polled into the indicator store (cert/sharing/taxii_client.py,
    # docs/sharing.md): one table per source with name, url (the API root), collection, username,
    # password or password_env (the environment variable holding it), tlp, poll_minutes, page_size,
    # timeout_seconds, verify
    taxii_sources: tuple[dict[str, str], ...] = ()
    # Partners' and public MISP feeds polled into the indicator store (cert/sharing/misp_pull.py,
    # docs/sharing.md): one table per feed with name, url (the feed's base, ending with /), token or
    # token_env (sent as Authorization), headers, tlp, poll_minutes, enabled, verify,
    # timeout_seconds, max_event_mb
    misp_feeds: tuple[dict[str, str], ...] = ()
    # Incident reports by e-mail (``cert intake smtp``, docs/intake.md): the address the SMTP
    # receiver listens on; the CERT's domains or full addresses it accepts mail for (anything else
    # is refused: no relaying); the largest message accepted (bytes); STARTTLS with this PEM
    # certificate chain and key (both set: offered), required before MAIL when intake_smtp_require_tls
    intake_smtp_listen: str = "127.0.0.1:2525"
    intake_smtp_domains: tuple[str, ...] = ()
    intake_smtp_max_bytes: int = 25 * 1024 * 1024
    intake_smtp_tls_cert_file: Path | None = None
    intake_smtp_tls_key_file: Path | None = None
    intake_smtp_require_tls: bool = False
    # the public report form (/report): reports accepted per client address and hour, largest file
    intake_form_per_hour: int = 5
    intake_form_max_file_mb: int = 10

    # Notifications to the constituency (cert/notify, docs/notifications.md). The SMTP relay (host
    # empty: nothing is sent, messages wait in the queue), its port, STARTTLS, login and password
    # (secret: CERT_SMTP_PASSWORD), the sender, the seconds one SMTP exchange may take; the most
    # delivery attempts before a message is dead and the first retry's delay (doubled each time);
    # the most restrictive TLP a contact may receive; minutes without acknowledgement, per
    # severity, before each escalation step (deputy, CISO, the CERT's duty officer at duty_email);
    # the console's public address and the days an acknowledgement link stays valid; alerts of one
    # kind for one organisation gathered over notify_aggregate_minutes into one message, and a
    # finding not reported again for notify_repeat_hours; the CERT's OpenPGP home, key and
    # passphrase, and S/MIME certificate and key (PEM files) messages are signed with.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "cert@localhost"
    smtp_timeout: float = 30.0
    notify_max_attempts: int = 6
    notify_retry_seconds: int = 60
    notify_tlp_ceiling: TLP = TLP.AMBER
    notify_ack_minutes: dict[str, int] = field(default_factory=_default_notify_ack)
    duty_email: str = ""
    notify_public_url: str = "http://127.0.0.1:8080"
    notify_ack_link_days: int = 14
    notify_aggregate_minutes: int = 60
    notify_repeat_hours: int = 7 * 24
    notify_gpg_home: Path | None = None
    notify_gpg_key: str = ""
    notify_gpg_passphrase: str = ""
    notify_smime_cert_file: Path | None = None
    notify_smime_key_file: Path | None = None

    # ---- derived locations (computed, never stored) ----
    @property
    def embedded_events_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def feed_dir(self) -> Path:
        return self.data_dir / "misp-feed"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'vigie.sqlite3').resolve()}"

    @property
    def mode(self) -> str:
        return "production" if self.elasticsearch_url or self.redis_url or self.database_url else "embedded"

    @property
    def effective_totp_required_roles(self) -> tuple[str, ...]:
        """The roles whose users must enrol and use a second factor."""
        if self.totp_required_roles is not None:
            return self.totp_required_roles
        return ("admin", "responder") if self.mode == "production" else ()

    def effective_secret_key(self) -> str:
        """The session signing key: configured, or generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # written whole under a temporary name, then linked into place: of processes starting at
        # once (web workers), the first link wins and every one reads that key
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        return path.read_text().strip()

    def redacted(self) -> dict[str, str]:
        """The settings as strings with secrets hidden, for display and logs."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_SETTINGS:
                value = "***" if value else ""
            elif f.name in TABLE_LISTS:
                value = tuple({k: "***" if k in SECRET_TABLE_KEYS and v else v for k, v in table.items()}
                              for table in value)
            elif isinstance(value, str) and "://" in value and "@" in value:
                scheme, rest = value.split("://", 1)
                value = f"{scheme}://***@{rest.split('@', 1)[1]}"
            out[f.name] = str(value)
        return out


def _sla_minutes(name: str, raw: Any, current: dict[str, int]) -> dict[str, int]:
    """An SLA table: the defaults with the severities given replaced by whole minutes above 0."""
    table = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(table, dict):
        raise TypeError("expected a table of severities to minutes")
    unknown = sorted(str(k) for k in table if k not in SLA_SEVERITIES)
    if unknown:
        raise ValueError(f"unknown severity {', '.join(unknown)} (expected {', '.join(SLA_SEVERITIES)})")
    out = dict(current)
    for severity, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"{severity}: expected whole minutes")
        minutes = int(value)
        if minutes <= 0:
            raise ValueError(f"{severity}: the target must be above 0 minutes")
        out[str(severity)] = minutes
    return out


def _tables(raw: Any) -> tuple[dict[str, str], ...]:
    """A list of tables whose values are kept as text, each read by the module that uses it."""
    tables = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise TypeError("expected a list of tables")
    return tuple({str(k): _text(v) for k, v in t.items()} for t in tables)


def _text(value: Any) -> str:
    """A table value as text: booleans lower-case, inline tables and lists as JSON."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _coerce(name: str, raw: Any, current: Any) -> Any:
    try:
        if name in SLA_SETTINGS:
            return _sla_minutes(name, raw, current)
        if name in TABLE_LISTS:
            return _tables(raw)
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, dict):  # a TOML table, or JSON in an environment variable
            table = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(table, dict):
                raise TypeError("expected a table of names to values")
            return {str(k): str(v) for k, v in table.items()}
        if isinstance(current, TLP):
            return TLP.parse(str(raw))
        if isinstance(current, PAP):
            return PAP.parse(str(raw))
        if isinstance(current, tuple) or name in OPTIONAL_LISTS:
            if isinstance(raw, str):
                if raw.strip().lower() == "none":
                    return ()
                return tuple(p.strip() for p in raw.split(",") if p.strip())
            return tuple(str(p) for p in raw)
        if isinstance(current, Path) or name.endswith(("_dir", "_file", "_home")):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r}: {exc}") from exc


def load_settings(path: Path | str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build the settings from defaults, then ``path`` (or ``$CERT_CONFIG``), then the environment."""
    env = dict(os.environ if env is None else env)
    settings = Settings()
    names = {f.name for f in fields(Settings)}
    config_path = path or env.get(ENV_PREFIX + "CONFIG")
    overrides: dict[str, Any] = {}
    if config_path:
        p = Path(config_path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {p} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {p}: {exc}") from exc
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"configuration file {p}: unknown setting(s) {', '.join(unknown)}")
        overrides.update(data)
    for name in names:
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            overrides[name] = env[key]
    values = {k: _coerce(k, v, getattr(settings, k)) for k, v in overrides.items()}
    settings = replace(settings, **values)
    if settings.sigma_cache_dir is None:
        settings = replace(settings, sigma_cache_dir=settings.data_dir / "cache")
    return settings
