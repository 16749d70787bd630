"""The password policy (NIST SP 800-63B, section 5.1.1): a minimum length, a generous maximum, no
composition rules, and a check against passwords known to be common or guessable in context.

Common passwords: ``data/common-passwords.txt.gz`` (shipped with the project, see
``data/README.md``), compared lowercased, also once digits and symbols are taken out
("Sunshine2024!" is "sunshine"). Context: a password may not be the username or the
product's name with only digits or symbols around it.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from cert.core.errors import N_, InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256
COMMON_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
PRODUCT_WORDS = frozenset({"vigie", "cert", "vigiecert", "certvigie"})
_NOT_LETTER = re.compile(r"[\W\d_]+")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_FILE, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def check_password(password: str, username: str = "", min_length: int = MIN_LENGTH) -> None:
    """Raise InvalidInput saying why ``password`` is not acceptable for ``username``."""
    min_length = max(min_length, 8)  # SP 800-63B: never fewer than 8
    if len(password) < min_length:
        raise InvalidInput(N_("A password has at least %(min)s characters."), min=min_length)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(N_("A password has at most %(max)s characters."), max=MAX_LENGTH)
    lowered = password.lower()
    letters = _NOT_LETTER.sub("", lowered)
    common = common_passwords()
    if lowered in common or lowered.strip() in common or (len(letters) >= 4 and letters in common):
        raise InvalidInput(N_("This password is one of the most common passwords: choose another."))
    user_letters = _NOT_LETTER.sub("", username.strip().lower())
    if letters in PRODUCT_WORDS or (user_letters and letters == user_letters) or lowered == username.strip().lower():
        raise InvalidInput(N_("A password may not be the username or the product's name, with or without "
                              "digits and symbols."))
    if len(set(password)) < 4:
        raise InvalidInput(N_("This password repeats too few characters: choose another."))
