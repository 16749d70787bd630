"""What an edit leaves unchanged: ``KEEP``, the value of an argument the caller did not give."""

from __future__ import annotations

from enum import Enum
from typing import Final


class Keep(Enum):
    """The value of an argument left out of an edit: the field keeps its value."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
