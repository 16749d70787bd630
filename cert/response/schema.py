"""The JSON Schema of a playbook file, and its validation with messages that name the place."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from cert.core.errors import N_, InvalidInput

DURATION = r"^[1-9][0-9]{0,5}[smhd]$"
TEXT = {"oneOf": [{"type": "string", "minLength": 1},
                  {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "string"}, "propertyNames": {"pattern": "^[a-z]{2}$"}}]}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "steps"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,99}$"},
        "version": {"type": "integer", "minimum": 1},
        "phase": {"enum": ["preparation", "detection", "containment", "eradication", "recovery", "post-incident"]},
        "title": TEXT,
        "description": TEXT,
        "steps": {
            "type": "array", "minItems": 1, "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["step"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,79}$"},
                    "step": {"type": "string", "pattern": "^[a-z0-9_]{1,80}$"},
                    "title": TEXT,
                    "with": {"type": "object"},
                    "when": {
                        "type": "object", "additionalProperties": False, "minProperties": 1,
                        "properties": {
                            "severity": {"type": "array", "minItems": 1,
                                         "items": {"enum": ["low", "medium", "high", "critical"]}},
                            "observables": {"type": "string", "minLength": 1},
                            "organization": {"type": "boolean"},
                            "found": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,79}\.[a-z0-9_]{1,80}$"},
                        },
                    },
                    "targets": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "tlp_max": {"enum": ["clear", "white", "green", "amber", "amber+strict", "red"]},
                            "from": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,79}\.[a-z0-9_]{1,80}$"},
                            "ioc_only": {"type": "boolean"},
                        },
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
                    "expires": {"type": "string", "pattern": DURATION},
                    "approval": {"enum": ["none", "analyst", "responder", "admin"]},
                },
            },
        },
    },
}

_VALIDATOR = Draft202012Validator(SCHEMA)


def _place(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def validate(data: Any, source: str) -> None:
    """Raise ``InvalidInput`` naming the file, the place and what is wrong, for every error."""
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "; ".join(f"{_place(e.absolute_path)}: {e.message}"[:300] for e in errors[:10])
        raise InvalidInput(N_("%(source)s: %(errors)s"), source=source, errors=lines)


def seconds(duration: str) -> int:
    """``30m``, ``24h``, ``7d`` in seconds (the schema has checked the form)."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[-1]]
