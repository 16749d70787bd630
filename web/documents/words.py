"""Words the documents show from data (task and countermeasure states, countermeasure kinds,
resolutions), listed so that they are extracted into the catalogue and translated."""

from flask_babel import lazy_gettext as _l

WORDS = (
    _l("in-progress"), _l("cancelled"),
    _l("proposed"), _l("requested"), _l("impossible"), _l("reverted"),
    _l("block-ip"), _l("block-domain"), _l("sinkhole"), _l("disable-account"), _l("reset-password"),
    _l("isolate-host"), _l("takedown"), _l("patch"), _l("other"),
    _l("true-positive"), _l("false-positive"), _l("benign"), _l("duplicate"),
)
