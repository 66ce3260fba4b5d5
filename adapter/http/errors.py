"""NewStore's one error shape: {"error_code", "message", "request_accepted": false}."""

from __future__ import annotations

from aiohttp import web

from adapter.domain.errors import ConfigurationFault, Decline, InvalidInput, RetryLater, UseCaseError
from adapter import jsonio


class ApiError(Exception):
    """An answer that is not a success, raised anywhere in the HTTP layer."""

    def __init__(self, status: int, error_code: str, message: str, *, retry_after: float | None = None,
                 headers: dict[str, str] | None = None, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or {}
        self.close = close  # answer with Connection: close (the rest of the request is not coming)


def error_body(error_code: str, message: str) -> bytes:
    return jsonio.dumps({"error_code": error_code, "message": message, "request_accepted": False})


def error_response(error: ApiError) -> web.Response:
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    response = web.Response(status=error.status, body=error_body(error.error_code, error.message),
                            content_type="application/json", headers=headers)
    if error.close:
        response.force_close()
    return response


def from_use_case(error: UseCaseError) -> ApiError:
    if isinstance(error, Decline):
        return ApiError(error.status, "instrument_error", error.message)
    if isinstance(error, InvalidInput):
        return ApiError(400, "bad_request", error.message)
    if isinstance(error, RetryLater):
        return ApiError(503, "retry_error", error.message, retry_after=error.retry_after)
    if isinstance(error, ConfigurationFault):
        return ApiError(500, "internal_error", "internal error")
    return ApiError(500, "internal_error", "internal error")


def bad_request(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", f"{field}: {message}")
