"""Certificate distinguished names written as RFC 4514 text (``CN=www.example.com,O=Example\\,
Inc.,C=US``, as Zeek's ssl.log and x509.log give a subject or issuer) -> ECS ``x509`` name fields.

The text is read by ``cryptography``'s RFC 4514 parser (escapes, ``\\2C`` hex pairs, multi-valued
``+`` RDNs, ``#``-encoded values), then the attribute types ECS names go to their fields, as lists
(ECS's x509 name fields are arrays): ``CN`` common_name, ``O`` organization, ``OU``
organizational_unit, ``C`` country, ``ST`` state_or_province, ``L`` locality. Text that is not a
valid RFC 4514 name, or a name ``cryptography`` refuses (a country that is not two letters), gives
nothing (the caller keeps the raw text). Names repeat across records
(one certificate for many connections), so results are cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

_FIELDS = {NameOID.COMMON_NAME: "common_name", NameOID.ORGANIZATION_NAME: "organization",
           NameOID.ORGANIZATIONAL_UNIT_NAME: "organizational_unit", NameOID.COUNTRY_NAME: "country",
           NameOID.STATE_OR_PROVINCE_NAME: "state_or_province", NameOID.LOCALITY_NAME: "locality"}
# attribute types OpenSSL writes that RFC 4514 does not name (the parser knows CN, L, ST, O, OU, C,
# STREET, DC, UID)
_OVERRIDES = {"emailAddress": NameOID.EMAIL_ADDRESS, "serialNumber": NameOID.SERIAL_NUMBER,
              "SN": NameOID.SURNAME, "GN": NameOID.GIVEN_NAME, "title": NameOID.TITLE,
              "businessCategory": NameOID.BUSINESS_CATEGORY,
              "jurisdictionC": NameOID.JURISDICTION_COUNTRY_NAME,
              "jurisdictionST": NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME,
              "jurisdictionL": NameOID.JURISDICTION_LOCALITY_NAME,
              "postalCode": NameOID.POSTAL_CODE, "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER}
_MAX_LENGTH = 4096


def dn_fields(text: str) -> dict[str, Any]:
    """ECS x509 name fields of an RFC 4514 distinguished name; empty when it is not one. A new
    dict (with new lists) on every call: the caller may change it."""
    return {field: list(values) for field, values in _parse(text)}


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if len(text) > _MAX_LENGTH:
        return ()
    try:
        name = x509.Name.from_rfc4514_string(text, _OVERRIDES)
    except ValueError:
        return ()
    found: dict[str, list[str]] = {}
    # RFC 4514 writes the most specific RDN first; the name object lists them in certificate order
    for rdn in reversed(name.rdns):
        for attribute in rdn:
            field = _FIELDS.get(attribute.oid)
            if field is not None and isinstance(attribute.value, str) and attribute.value:
                found.setdefault(field, []).append(attribute.value)
    return tuple((field, tuple(values)) for field, values in found.items())
