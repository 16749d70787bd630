"""Traffic Light Protocol 2.0 labels and Permissible Actions Protocol, with their ordering."""

from __future__ import annotations

from enum import Enum

from cert.core.errors import InvalidInput


class TLP(Enum):
    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return "TLP:" + self.tag_value.upper()

    @property
    def tag_value(self) -> str:
        return self.name.lower().replace("_", "+")

    @property
    def machine_tag(self) -> str:
        """The MISP taxonomy machine tag, e.g. ``tlp:amber+strict``."""
        return f"tlp:{self.tag_value}"

    def allows(self, other: TLP) -> bool:
        """True when data labelled ``other`` may go to a recipient whose ceiling is ``self``."""
        return other.value <= self.value

    @classmethod
    def parse(cls, text: str) -> TLP:
        t = text.strip().lower().removeprefix("tlp:").removeprefix("tlp-").replace("_", "+")
        if t == "white":  # TLP 1.0
            t = "clear"
        for member in cls:
            if member.tag_value == t:
                return member
        raise InvalidInput(f"unknown TLP label {text!r} (expected clear, green, amber, amber+strict or red)")


def may_leave(marking: TLP, ceiling: TLP) -> bool:
    """The TLP decision of every exit: may data or text marked ``marking`` go to a recipient whose
    ceiling is ``ceiling``? Never above the ceiling, and TLP:RED never leaves in an automated
    share, whatever the ceiling. The sharing policy (``cert.sharing.policy.decide``) adds PAP and
    the reasons on top of it; documents (``cert.incidents.casefile``) take it as it is."""
    return marking is not TLP.RED and ceiling.allows(marking)


def shareable_text(text: str, marking: TLP, ceiling: TLP, neutral: str) -> str:
    """``text`` when it may leave at ``ceiling`` (``may_leave``), else ``neutral``: a title built
    only from what the recipient may see. The exit still goes out with the neutral text rather
    than being refused, because a CERT must still warn the recipient; what the title held stays
    in the case."""
    return text if may_leave(marking, ceiling) else neutral


def highest(*labels: TLP) -> TLP:
    """The most restrictive of the labels (CLEAR for none)."""
    return max(labels, key=lambda t: t.value, default=TLP.CLEAR)


class PAP(Enum):
    CLEAR = 0
    GREEN = 1
    AMBER = 2
    RED = 3

    @property
    def label(self) -> str:
        return "PAP:" + self.name

    @classmethod
    def parse(cls, text: str) -> PAP:
        t = text.strip().upper().removeprefix("PAP:")
        if t == "WHITE":
            t = "CLEAR"
        try:
            return cls[t]
        except KeyError as exc:
            raise InvalidInput(f"unknown PAP label {text!r} (expected clear, green, amber or red)") from exc
