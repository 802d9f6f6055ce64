"""Typed domain errors.

Every error carries a stable ``type`` slug (used as the RFC 9457 problem ``type``), an HTTP
status the API layer maps it to, a human title, and, for bad input, the ``field`` at fault.
Domain code raises these; adapters (HTTP, CLI) render them. Nothing else is caught silently.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "field_path",
    "DomainError",
    "ValidationError",
    "NotFoundError",
    "ConflictError",
    "IdempotencyConflictError",
    "CurrencyMismatchError",
    "LimitExceededError",
    "InsufficientFundsError",
    "StateError",
    "PermissionDeniedError",
    "AuthenticationError",
    "CapExceededError",
    "ConsentRequiredError",
    "RateLimitedError",
]

PROBLEM_BASE = "https://creditpay.dev/problems/"


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    type_slug = "domain-error"
    status = 400
    title = "Domain error"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.type_slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """RFC 9457 problem document."""
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            problem["field"] = self.field
        if instance is not None:
            problem["instance"] = instance
        problem.update({k: v for k, v in self.extra.items() if v is not None})
        return problem

    def __str__(self) -> str:  # names the field first: it is what a person needs to fix
        return f"{self.field}: {self.detail}" if self.field else self.detail


class ValidationError(DomainError, ValueError):
    type_slug = "validation-error"
    status = 422
    title = "Invalid input"


class NotFoundError(DomainError, LookupError):
    type_slug = "not-found"
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    type_slug = "conflict"
    status = 409
    title = "Conflict"


class IdempotencyConflictError(ConflictError):
    """The same idempotency key (or transfer id) was reused with different content."""

    type_slug = "idempotency-conflict"
    title = "Idempotency key reused with different content"


class CurrencyMismatchError(ValidationError):
    type_slug = "currency-mismatch"
    title = "Currency mismatch"


class LimitExceededError(DomainError):
    """A balance constraint (account flag, limit, cap) would be violated."""

    type_slug = "limit-exceeded"
    status = 409
    title = "Limit exceeded"


class InsufficientFundsError(LimitExceededError):
    type_slug = "insufficient-funds"
    title = "Insufficient funds"


class StateError(ConflictError):
    """The operation is not allowed in the object's current state."""

    type_slug = "invalid-state"
    title = "Invalid state for this operation"


class PermissionDeniedError(DomainError):
    type_slug = "forbidden"
    status = 403
    title = "Forbidden"


class AuthenticationError(DomainError):
    type_slug = "unauthenticated"
    status = 401
    title = "Authentication required"


class CapExceededError(LimitExceededError):
    """A regulatory price or exposure cap would be broken; ``cap`` names it."""

    type_slug = "cap-exceeded"
    title = "Regulatory cap exceeded"


class ConsentRequiredError(DomainError):
    type_slug = "consent-required"
    status = 403
    title = "Consent required"


class RateLimitedError(DomainError):
    type_slug = "rate-limited"
    status = 429
    title = "Too many requests"


def field_path(location: Any) -> list[str]:
    """A validation error's location as field names, list indexes joined to the name before
    them: ``("dpd_actions", 0, "channel")`` -> ``["dpd_actions[0]", "channel"]``."""
    parts: list[str] = []
    for part in location or ():
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(str(part))
    return parts
