"""The runtime's domain errors. The HTTP layer maps each class to a status in one table
(``serving.http.errors.ERRORS``); the CLI and the in-process integrations see them as they are.
"""

from __future__ import annotations

from typing import Any


class PalimpsestError(Exception):
    """Something the caller can fix; the message says what to do."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__

    def details(self) -> dict[str, Any]:
        """Fields the HTTP layer adds to the error body beside ``message`` and ``type``."""
        return {}


class InvalidInputError(PalimpsestError, ValueError):
    """The request's content cannot be used (an empty prompt, a subject missing from its prompt...)."""


class InvalidSettingError(PalimpsestError, ValueError):
    """An option is out of range or unknown (a negative layer, an unknown training setting...)."""


class NotFoundError(PalimpsestError, KeyError):
    """No object has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ConflictError(PalimpsestError):
    """The request clashes with the current state (already reverted, a name in use...)."""


class UnavailableError(PalimpsestError):
    """A part of the server this request needs is not running."""


class OverloadedError(UnavailableError):
    """The server has more requests than it takes (a full decode queue, a request that waited too
    long); ``retry_after``: seconds to wait before sending it again."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLargeError(PalimpsestError):
    """The request is over a configured limit (body size, documents, facts, examples per request)."""


class RegressionGuardError(PalimpsestError):
    """The regression guard rejected a weight change; the change was reverted and recorded so.

    ``entry`` is the (reverted) history entry as the API shows it, ``verdict`` the guard's
    scores (``before``, ``after``, ``drops``, ``threshold``, ``reason``), both JSON-ready.
    """

    def __init__(self, reason: str, entry: dict[str, Any], verdict: dict[str, Any]) -> None:
        super().__init__(reason)
        self.entry, self.verdict = entry, verdict

    def details(self) -> dict[str, Any]:
        return {"reason": self.message, "scores": self.verdict, "entry": self.entry}
