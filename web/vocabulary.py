"""Domain words shown from data (severities, statuses, roles), listed so that they are translated."""

from flask_babel import lazy_gettext as _l

WORDS = (
    _l("informational"), _l("low"), _l("medium"), _l("high"), _l("critical"),
    _l("new"), _l("acknowledged"), _l("promoted"), _l("closed"), _l("open"), _l("contained"),
    _l("queued"), _l("running"), _l("done"), _l("failed"),
    _l("analyst"), _l("responder"), _l("admin"),
)
