"""Rendering of notifications outside any web request: Jinja2 templates of this package (one per
kind, and per kind and RSIT class when one is written, ``incident-malicious-code.txt`` before
``incident.txt``), with the i18n extension and the console's catalogue (web/translations) in the
recipient's language. A template's first line is the subject, the rest the body; both are plain
text. The TLP marking and the ticket are put in the subject by ``subject_line``, never left to a
template."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from cert.core.config import PROJECT_ROOT
from cert.core.tlp import TLP

TEMPLATES = Path(__file__).resolve().parent / "templates"
CATALOGUE = PROJECT_ROOT / "web" / "translations"
LANGUAGES = ("fr", "en")
KINDS = ("incident", "aggregate", "escalation", "advisory")
_SLUG = re.compile(r"[^a-z0-9-]+")


def language_of(code: str | None) -> str:
    """The language a message is written in: the contact's when Vigie writes it, French otherwise."""
    return code if code in LANGUAGES else "fr"


@lru_cache(maxsize=4)
def translations(language: str) -> NullTranslations:
    """The console's catalogue for ``language`` (English is the message ids themselves)."""
    if language == "en":
        return NullTranslations()
    return Translations.load(str(CATALOGUE), [language], domain="messages")


@lru_cache(maxsize=4)
def environment(language: str) -> Environment:
    # plain-text e-mail, never HTML: nothing to escape
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), extensions=["jinja2.ext.i18n"],
                      autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True,  # noqa: S701
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def gettext(language: str, message: str, **params: Any) -> str:
    """``message`` (a message id) in ``language`` with its values."""
    text = translations(language_of(language)).gettext(message)
    return text % params if params else text


def template_names(kind: str, rsit_class: str = "") -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    slug = _SLUG.sub("-", rsit_class.lower()).strip("-")
    return ([f"{kind}-{slug}.txt"] if slug else []) + [f"{kind}.txt"]


def render(kind: str, language: str, context: dict[str, Any], rsit_class: str = "") -> tuple[str, str]:
    """(subject text, body) of a notification of ``kind`` in ``language``."""
    env = environment(language_of(language))
    for name in template_names(kind, rsit_class):
        try:
            template = env.get_template(name)
        except TemplateNotFound:
            continue
        text = template.render(**context)
        subject, _, body = text.partition("\n")
        return subject.strip(), body.lstrip("\n")
    raise ValueError(f"no template for {kind!r}")


def subject_line(tlp: TLP, ticket: str, text: str) -> str:
    """``[TLP:AMBER] [VIGIE#12] text``: the marking first, then the ticket replies thread on."""
    return f"[{tlp.label}] [{ticket}] {text}"[:500] if ticket else f"[{tlp.label}] {text}"[:500]
