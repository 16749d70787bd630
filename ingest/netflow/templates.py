"""Templates (NetFlow v9 RFC 3954 section 5, IPFIX RFC 7011 section 3.4) and their cache.

A template is learned per exporter: the cache key is (exporter address, protocol version,
observation domain / source id, template id). Templates learned over UDP expire when the
exporter stops refreshing them (RFC 7011 section 8.4), and the cache is bounded so that spoofed
datagrams cannot grow it without limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.netflow.fields import V9_SCOPE_TYPES, element
from ingest.netflow.values import Converter, converter

VARIABLE = 65535  # IPFIX field length meaning "variable length" (RFC 7011 section 7)

TemplateKey = tuple[str, int, int, int]  # exporter ip, version, domain, template id


@dataclass(frozen=True)
class FieldSpec:
    element_id: int
    length: int
    enterprise: int = 0


@dataclass(frozen=True)
class Slot:
    """How to read one field of a record: its name (None: skip it), converter, length, scope."""

    name: str | None
    convert: Converter
    length: int
    scope: bool


@dataclass
class Template:
    template_id: int
    fields: tuple[FieldSpec, ...]
    version: int
    scope_count: int = 0  # options templates: how many leading fields are scope fields
    learned_at: float = 0.0
    slots: tuple[Slot, ...] = field(init=False)
    min_length: int = field(init=False)
    variable: bool = field(init=False)
    skipped: int = field(init=False)

    def __post_init__(self) -> None:
        slots: list[Slot] = []
        skipped = 0
        for index, spec in enumerate(self.fields):
            scope = index < self.scope_count
            if self.version == 9 and scope:
                known: tuple[str, str] | None = (V9_SCOPE_TYPES.get(spec.element_id, f"scope{spec.element_id}"), "u")
            else:
                known = element(spec.element_id, spec.enterprise)
            if known is None:
                skipped += 1
                slots.append(Slot(None, converter("bytes"), spec.length, scope))
            else:
                slots.append(Slot(known[0], converter(known[1]), spec.length, scope))
        self.slots = tuple(slots)
        self.skipped = skipped
        self.variable = any(s.length == VARIABLE for s in self.fields)
        # the shortest record: a variable-length field takes at least its one length octet
        self.min_length = sum(1 if s.length == VARIABLE else s.length for s in self.fields)

    @property
    def options(self) -> bool:
        return self.scope_count > 0


class TemplateCache:
    def __init__(self, timeout: float = 1800.0, max_templates: int = 10_000) -> None:
        self.timeout = timeout
        self.max_templates = max_templates
        self._templates: dict[TemplateKey, Template] = {}

    def get(self, key: TemplateKey, now: float) -> Template | None:
        template = self._templates.get(key)
        if template is not None and now - template.learned_at > self.timeout:
            del self._templates[key]
            return None
        return template

    def put(self, key: TemplateKey, template: Template) -> bool:
        """Learn (or refresh) a template; False when the cache is full of other templates."""
        if key not in self._templates and len(self._templates) >= self.max_templates:
            return False
        self._templates[key] = template
        return True

    def withdraw(self, key: TemplateKey) -> None:
        self._templates.pop(key, None)

    def withdraw_all(self, exporter: str, version: int, domain: int, options: bool) -> None:
        """RFC 7011 section 8.1: withdraw every (options) template of an observation domain."""
        for key, template in list(self._templates.items()):
            if key[:3] == (exporter, version, domain) and template.options == options:
                del self._templates[key]

    def __len__(self) -> int:
        return len(self._templates)
