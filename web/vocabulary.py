"""Domain words shown from data (severities, statuses, roles, rule provenances and changes), listed so that
they are extracted into the catalogue and translated; timeline entries rendered in the reader's language."""

from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

WORDS = (
    _l("informational"), _l("low"), _l("medium"), _l("high"), _l("critical"),
    _l("new"), _l("acknowledged"), _l("promoted"), _l("closed"), _l("open"), _l("contained"),
    _l("queued"), _l("running"), _l("done"), _l("failed"),
    _l("waiting-approval"), _l("pending"), _l("skipped"), _l("refused"), _l("applied"), _l("reverted"),
    _l("unblock"), _l("re-enable"), _l("remove the sinkhole"),
    _l("analyst"), _l("responder"), _l("admin"), _l("focal_point"), _l("partner"),
    _l("local"), _l("sigmahq"), _l("external"), _l("rule"),
    _l("enable"), _l("disable"), _l("severity"), _l("exception_add"), _l("exception_remove"),
)


def _label(tag: object) -> str:
    return "TLP:" + str(tag).upper()


def _values(params: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry's values for the reader: text in each language in theirs, vocabulary
    words (keys ending in ``_term``) translated."""
    lang = str(get_locale() or "fr")
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and "message" in value:  # a reason of its own: translated too
            try:
                value = str(_(str(value["message"]), **dict(value.get("params") or {})))
            except (KeyError, ValueError, TypeError):
                value = str(value["message"])
        elif isinstance(value, dict):
            value = value.get(lang) or value.get("en") or next(iter(value.values()), "")
        elif key.endswith("_term") and isinstance(value, str) and value:
            value = _(value)
        out[key] = value
    return out


def timeline_message(kind: str, message: str, data: dict[str, Any] | None, message_id: str = "",
                     params: dict[str, Any] | None = None) -> str:
    """A timeline entry in the reader's language: its message id translated and filled with its
    values; for entries written before messages had ids, from its kind and data, else the stored
    (English) message."""
    if message_id and params:
        try:
            return str(_(message_id, **_values(params)))
        except (KeyError, ValueError, TypeError):  # a catalogue entry whose placeholders do not match
            return message
    d = data or {}
    if kind == "tlp" and "to" in d:
        text = str(_("TLP changed from %(old)s to %(new)s", old=_label(d.get("from")), new=_label(d["to"])))
        return str(_("%(change)s. Reason: %(reason)s", change=text, reason=d["reason"])) if d.get("reason") else text
    if kind == "tlp_raised" and "to" in d:
        return str(_("TLP raised from %(old)s to %(new)s because of the indicator from %(sources)s.",
                     old=_label(d.get("from")), new=_label(d["to"]), sources=", ".join(d.get("sources") or []) or "?"))
    if kind == "withdrawn" and "event_uuid" in d:
        return str(_("MISP event %(uuid)s withdrawn from the feed: the case is now %(tlp)s, above the feed's "
                     "ceiling %(ceiling)s.", uuid=d["event_uuid"], tlp=_label(d.get("tlp")),
                     ceiling=_label(d.get("ceiling"))))
    if message_id and message_id == message:
        return str(_(message_id))
    return message


def alert_title(detector: str, title: str) -> str:
    """An alert's title in the reader's language where it is Vigie's own: the title a detector
    class declares (``title``: anomaly detectors, the web scanning behaviour), followed by its
    subject, data kept as it is; a rule's title is its author's."""
    from cert.core.contracts import detectors
    from cert.core.errors import NotFound

    try:
        cls = detectors.get(detector)
    except NotFound:
        return title
    own = str(getattr(cls, "title", ""))
    if own and title.startswith(own):
        return str(_(own)) + title[len(own):]
    return title
