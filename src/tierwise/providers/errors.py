"""Error bodies in each API's own format, status mapping between the two, and key redaction.

A caller must see an error it understands: an OpenAI SDK reads `{"error": {message, type,
param, code}}`, an Anthropic SDK reads `{"type": "error", "error": {type, message}}`, and both
pick their exception class from the HTTP status. Statuses that exist in only one API (Anthropic's
529 overloaded) are mapped to the other API's equivalent (OpenAI's 503).
"""

from __future__ import annotations

import re
from typing import Any

from tierwise.providers.base import UpstreamError


class RequestError(ValueError):
    """A caller's request is malformed; `param` names the offending field (dotted path)."""

    def __init__(
        self, message: str, param: str | None = None, *, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code


ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

OPENAI_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "overloaded"),
    504: ("timeout_error", None),
}


def status_for(api: str, upstream_status: int, error_type: str = "") -> int:
    """The status a caller of `api` should see for an upstream failure.

    Connection failures (status 0) become 504 for timeouts and 502 otherwise; Anthropic's
    non-standard 529 becomes 503 for OpenAI callers, and an OpenAI 503 becomes 529 for
    Anthropic callers (both mean "overloaded, retry later").
    """
    if upstream_status == 0:
        return 504 if error_type == "timeout_error" else 502
    if api == "openai" and upstream_status == 529:
        return 503
    if api == "anthropic" and upstream_status == 503:
        return 529
    return upstream_status


def anthropic_error(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    etype = error_type or ANTHROPIC_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": etype, "message": message}}


def openai_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    etype, default_code = OPENAI_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {"message": message, "type": etype, "param": param, "code": code or default_code}
    }


def error_body(
    api: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error object for `api` ("openai" | "anthropic")."""
    if api == "anthropic":
        if param and not message.startswith(param):
            message = f"{param}: {message}"
        return anthropic_error(status, message)
    return openai_error(status, message, param, code)


_REJECTED = "rejected the gateway's credentials (check the deployment's api_key)"


def credentials_rejected(who: str = "upstream deployment") -> str:
    """The message for an upstream 401/403: the gateway's own key failed, not the caller's."""
    return f"{who} {_REJECTED}"


def upstream_error_body(api: str, exc: UpstreamError) -> tuple[int, dict[str, Any]]:
    """Status and body telling a caller of `api` what the upstream said (keys redacted).

    An upstream 401/403 is the deployment rejecting the gateway's own key (the caller's key is
    never forwarded), so the caller gets a 502, not an authentication error that would make
    it doubt its own key.
    """
    if exc.status in (401, 403):
        message = exc.message if _REJECTED in exc.message else credentials_rejected()
        if api == "anthropic":
            return 502, anthropic_error(502, message, "api_error")
        return 502, openai_error(502, message)
    status = status_for(api, exc.status, exc.error_type)
    message = redact(exc.message) or f"upstream error {exc.status}"
    if api == "anthropic":
        etype = ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else None)
        return status, anthropic_error(status, message, etype)
    return status, openai_error(status, message)


# Provider key shapes: sk-..., sk-ant-..., and masked echoes like "sk-abc***xyz".
_KEY_RE = re.compile(r"\b(?:sk|key|pk|rk)[-_][A-Za-z0-9_\-*.]{6,}")


def redact(text: str, *secrets: str) -> str:
    """Remove API keys from text that may reach a caller, a log or the ledger."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return _KEY_RE.sub("[redacted]", text) if ("sk" in text or "key" in text) else text
