"""Typed errors: each says which call failed and what the operator can do about it.

Exit codes follow the external contract: 2 usage or config error, 3 infrastructure error.
"""

from __future__ import annotations


class VinconsoleError(Exception):
    """An expected failure: printed as one message, never as a traceback."""

    exit_code = 3


class UsageError(VinconsoleError):
    exit_code = 2


class ApiError(VinconsoleError):
    """A Google Cloud API call that failed after its retries."""

    def __init__(self, call: str, code: str, detail: str, hint: str = ""):
        self.call = call
        self.code = code
        self.detail = detail
        self.hint = hint
        text = f"{call} failed: {code}: {detail}"
        super().__init__(f"{text} — {hint}" if hint else text)


class ConflictError(ApiError):
    """Somebody else changed the service since we read it (stale etag)."""


class NotFoundError(ApiError):
    pass


class PermissionDeniedError(ApiError):
    pass


class UnavailableError(ApiError):
    """The API could not be reached or timed out, after retries."""


class VerificationError(VinconsoleError):
    """A write was accepted but the service does not serve what we wrote."""


class LeaseHeldError(VinconsoleError):
    """Another console or CI runner holds the service."""

    def __init__(self, holder: str, expires_in: float, service: str):
        self.holder = holder
        self.expires_in = expires_in
        lease = (f"lease expires in {expires_in:.0f} s" if expires_in >= 0 else
                 f"its lease lapsed {-expires_in:.0f} s ago, but that process still runs on this host and may be "
                 "late to renew it")
        super().__init__(f"{service} is being driven by {holder} ({lease}); "
                         "wait for it to finish or for the lease to expire")
