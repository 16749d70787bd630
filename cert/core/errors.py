"""Typed exceptions of the Vigie core. Routes and the CLI turn them into 4xx answers / messages."""


class VigieError(Exception):
    """Base class of every error Vigie raises on purpose."""


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

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details
