"""Domain words shown from data (severities, statuses, roles, rule provenances and changes), listed so that
they are extracted into the catalogue and translated."""

from flask_babel import lazy_gettext as _l

WORDS = (
    _l("informational"), _l("low"), _l("medium"), _l("high"), _l("critical"),
    _l("new"), _l("acknowledged"), _l("promoted"), _l("closed"), _l("open"), _l("contained"),
    _l("queued"), _l("running"), _l("done"), _l("failed"),
    _l("analyst"), _l("responder"), _l("admin"),
    _l("local"), _l("sigmahq"), _l("external"), _l("rule"),
    _l("enable"), _l("disable"), _l("severity"), _l("exception_add"), _l("exception_remove"),
)
