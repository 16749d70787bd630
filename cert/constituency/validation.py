"""Checks of what an administrator types into the contact database: organisation ids, CIDR
ranges, AS numbers, domain names, e-mail addresses, phone numbers, OpenPGP keys and S/MIME
certificates. Each check returns the value in its stored form or raises ``InvalidInput`` with a
message for the reader (``N_`` message id and its values)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import tempfile
from pathlib import Path

from cert.constituency.directory import CONTACT_LANGUAGES, CONTACT_ROLES
from cert.core.errors import N_, InvalidInput

MAX_NAME = 200
MAX_LABEL = 80  # kind, sector
MAX_KEY = 100_000  # an armoured key or a PEM certificate
MAX_PHONE = 50
MAX_EMAIL = 320

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,78}[a-z0-9])?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_PHONE = re.compile(r"^\+?[0-9 ().-]{3,49}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: the kinds of network objects, as stored
NETWORK_KINDS = ("cidr", "asn", "domain")


def organization_id(value: str) -> str:
    """A short id (``min-interieur``): lower-case letters, digits, ``.``, ``_``, ``-``."""
    value = value.strip()
    if not _ID.match(value):
        raise InvalidInput(N_("%(value)s is not a valid organisation id (lower-case letters, digits, dots, dashes "
                              "and underscores, at most 80)."), value=value[:100])
    return value


def _line(value: str, limit: int, too_long: str) -> str:
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(too_long, max=limit)
    if _CONTROL.search(value):
        raise InvalidInput(N_("Text with control characters (line breaks, tabs) is refused here."))
    return value


def name(value: str) -> str:
    """The name of an organisation or of a person: required, one line of at most 200 characters."""
    value = _line(value, MAX_NAME, N_("A name is at most %(max)s characters."))
    if not value:
        raise InvalidInput(N_("A name is required."))
    return value


def label(value: str) -> str:
    """An organisation's kind or sector: one line of at most 80 characters, possibly empty."""
    return _line(value, MAX_LABEL, N_("A kind or a sector is at most %(max)s characters."))


def cidr(value: str) -> str:
    """A CIDR range (``10.10.0.0/16``, ``2001:db8::/32``; an address alone is its /32 or /128), in
    its normal form; host bits set are refused."""
    raw = value.strip()
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError:
        raise InvalidInput(N_("%(value)s is not a network in CIDR notation (10.10.0.0/16)."), value=raw[:100]) \
            from None
    return str(net)


def asn(value: str | int) -> int:
    """An AS number (``64500`` or ``AS64500``), 1 to 4294967295."""
    raw = str(value).strip()
    digits = raw[2:] if raw.upper().startswith("AS") else raw
    if not digits.isdigit() or not 0 < int(digits) < 2**32:
        raise InvalidInput(N_("%(value)s is not an AS number (1 to 4294967295)."), value=raw[:100])
    return int(digits)


def domain(value: str) -> str:
    """A DNS name of at least two labels (``interieur.gouv.example``), lower case, no final dot;
    internationalised names are kept in their IDNA (``xn--``) form."""
    raw = value.strip().rstrip(".")
    try:
        name = raw.encode("idna").decode("ascii").lower() if raw else ""
    except UnicodeError:
        name = ""
    labels = name.split(".")
    if not name or len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) \
            or labels[-1].isdigit():
        raise InvalidInput(N_("%(value)s is not a domain name (interieur.gouv.example)."), value=value.strip()[:100])
    return name


def email(value: str) -> str:
    """An e-mail address: checked by ``email-validator`` when it is installed (no DNS query), else
    by a strict check of its local part and domain."""
    raw = value.strip()
    if not raw or len(raw) > MAX_EMAIL:
        raise InvalidInput(N_("%(value)s is not an e-mail address."), value=raw[:100])
    try:
        import email_validator  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        local, at, host = raw.rpartition("@")
        if not at or not _LOCAL.match(local) or len(local) > 64:
            raise InvalidInput(N_("%(value)s is not an e-mail address."), value=raw[:100]) from None
        try:
            host = domain(host)
        except InvalidInput:
            raise InvalidInput(N_("%(value)s is not an e-mail address."), value=raw[:100]) from None
        return f"{local}@{host}"
    try:
        found = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise InvalidInput(N_("%(value)s is not an e-mail address."), value=raw[:100]) from None
    return str(found.normalized)


def phone(value: str) -> str:
    """A phone number: digits, spaces, ``+ ( ) . -``; empty for none."""
    raw = value.strip()
    if raw and not _PHONE.match(raw):
        raise InvalidInput(N_("%(value)s is not a phone number."), value=raw[:100])
    return raw


def role(value: str) -> str:
    if value not in CONTACT_ROLES:
        raise InvalidInput(N_("%(value)s is not a contact role (%(known)s)."), value=value[:50],
                           known=", ".join(CONTACT_ROLES))
    return value


def language(value: str) -> str:
    if value not in CONTACT_LANGUAGES:
        raise InvalidInput(N_("%(value)s is not a language of contacts (%(known)s)."), value=value[:50],
                           known=", ".join(CONTACT_LANGUAGES))
    return value


def pgp_key(value: str) -> str:
    """An ASCII-armoured OpenPGP public key that GnuPG reads (imported into a temporary keyring,
    never the user's); empty for none."""
    armoured = value.strip()
    if not armoured:
        return ""
    if len(armoured) > MAX_KEY or "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in armoured:
        raise InvalidInput(N_("The OpenPGP key is not an ASCII-armoured public key."))
    if shutil.which("gpg") is None:
        raise InvalidInput(N_("GnuPG (gpg) is not installed: an OpenPGP key cannot be checked."))
    import gnupg  # type: ignore[import-untyped,unused-ignore]

    home = tempfile.mkdtemp(prefix="vigie-gpg-")
    try:
        gpg = gnupg.GPG(gnupghome=home)
        result = gpg.import_keys(armoured)
        if not result.fingerprints or not gpg.list_keys():
            raise InvalidInput(N_("The OpenPGP key could not be read by GnuPG."))
    finally:
        _close_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    return armoured + "\n"


def _close_agent(home: str) -> None:
    """Stop the gpg-agent a key import may have started for the temporary keyring."""
    if (Path(home) / "S.gpg-agent").exists() and shutil.which("gpgconf"):
        import subprocess

        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False, capture_output=True,
                       timeout=10)


def smime_cert(value: str) -> str:
    """A PEM X.509 certificate that ``cryptography`` reads; empty for none."""
    pem = value.strip()
    if not pem:
        return ""
    from cryptography import x509

    if len(pem) > MAX_KEY:
        raise InvalidInput(N_("The S/MIME certificate is not a PEM certificate."))
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidInput(N_("The S/MIME certificate is not a PEM certificate.")) from None
    return pem + "\n"
