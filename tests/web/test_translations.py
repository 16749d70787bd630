"""Everything the server writes for people is in the catalogue, in French: each message marked in
``web/`` and ``cert/`` (``_``, ``_l``, ``N_``; babel.cfg) has a French translation, and the
compiled catalogue the console loads holds the same translations as the source one."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
FR = ROOT / "web" / "translations" / "fr" / "LC_MESSAGES"
METHODS = [("web/templates/**.html", "jinja2"), ("web/templates/**.txt", "jinja2"), ("web/**.py", "python"),
           ("cert/**.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}


def marked_messages() -> set[str]:
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=METHODS, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_message_has_a_french_translation() -> None:
    with (FR / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    marked = marked_messages()
    assert len(marked) > 100
    missing = sorted(m for m in marked if m not in catalog or not catalog[m].string or catalog[m].fuzzy)
    assert missing == [], f"messages without a French translation (pybabel extract/update, then translate): {missing}"


def test_compiled_catalogue_matches_its_source() -> None:
    with (FR / "messages.po").open("rb") as fh:
        source = {m.id: m.string for m in read_po(fh, locale="fr") if m.id and not m.fuzzy}
    with (FR / "messages.mo").open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == source, "web/translations: run pybabel compile -d web/translations"
