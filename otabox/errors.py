"""The one error type of otabox. The web layer maps it to `{"error": {code, message, details}}`."""
from __future__ import annotations


class OtaboxError(Exception):
    status = 400
    code = "bad_request"
    retry_after: int | None = None
    """Seconds after which the same request may succeed (sent as Retry-After)."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, details=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details if details is not None else {}

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers the error implies."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InternalError(OtaboxError):
    """Only for answering an unexpected failure; never raised on purpose."""
    status, code = 500, "internal"


INTERNAL_ERROR = InternalError("internal server error")


class BadRequest(OtaboxError):
    status, code = 400, "bad_request"


class UnknownField(BadRequest):
    """A request carries a field its route does not accept (details: field, and suggestion or hint)."""

    code = "unknown_field"


class Unauthorized(OtaboxError):
    status, code = 401, "unauthorized"


class Forbidden(OtaboxError):
    status, code = 403, "forbidden"


class NotFound(OtaboxError):
    status, code = 404, "not_found"


class Conflict(OtaboxError):
    status, code = 409, "conflict"


class Gone(OtaboxError):
    status, code = 410, "gone"


class TooLarge(OtaboxError):
    status, code = 413, "too_large"


class Invalid(OtaboxError):
    status, code = 422, "invalid"


class TooManyRequests(OtaboxError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int, message: str | None = None, **kwargs):
        super().__init__(message or f"too many requests; retry in {retry_after} s",
                         details={"retryAfter": retry_after}, **kwargs)
        self.retry_after = retry_after


class Busy(OtaboxError):
    """The server is doing as much of this kind of work as it allows at once; retry shortly."""

    status, code = 503, "busy"

    def __init__(self, message: str, retry_after: int = 2, **kwargs):
        super().__init__(message, details={"retryAfter": retry_after}, **kwargs)
        self.retry_after = retry_after


class DatabaseUnavailable(OtaboxError):
    """The database server cannot be reached (or refused the connection): nothing was done."""

    status, code = 503, "database_unavailable"
    retry_after = 5


class StorageUnavailable(OtaboxError):
    """The bundle store (a bucket) could not be reached, timed out or failed: nothing was stored.
    The message names the kind of failure only; the endpoint and object key go to the log."""

    status, code = 503, "storage_unavailable"
    retry_after = 5


class InsufficientStorage(OtaboxError):
    """The disk or the bucket's quota is full (retrying will not help until someone frees space)."""

    status, code = 507, "insufficient_storage"
