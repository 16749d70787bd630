"""Typed exceptions of the Vigie core. Routes and the CLI turn them into 4xx answers / messages.

An error's message is English text with ``%(name)s`` placeholders and its values as keyword
arguments: ``InvalidInput(N_("A reason is at most %(max)s characters."), max=1000)``. ``N_``
marks the text for the translation catalogue; the console shows it in the reader's language
(``message_id`` and ``params``), the CLI and the logs in English (``str``). Keyword arguments
are also the error's details (an API answer may carry them, e.g. a case id)."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a message for extraction into the translation catalogue; it is translated when shown."""
    return message


class VigieError(Exception):
    """Base class of every error Vigie raises on purpose."""

    def __init__(self, message: str = "", **params: object) -> None:
        self.message_id = message
        self.params = params
        super().__init__(message % params if params and message else message)


class ConfigError(VigieError):
    """The configuration is invalid; the message names the setting."""


class NotFound(VigieError):
    """A requested object does not exist."""


class InvalidInput(VigieError):
    """Input from a user, a file or an API call is invalid; the message says why and where."""


class Forbidden(VigieError):
    """The action is not allowed for this user, or by the data's TLP."""


class StoreUnavailable(VigieError):
    """The event store cannot be reached."""


class DetectionWorkerDied(VigieError):
    """A worker process of parallel detection (``cert detect --workers N``) died before returning."""


class Conflict(VigieError):
    """The action clashes with the object's state (an alert already in a case); names the object."""

    @property
    def details(self) -> dict[str, object]:
        return self.params
