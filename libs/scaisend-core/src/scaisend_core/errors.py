"""Domain errors shared by every service; the API maps them to HTTP in one module.

ScaiSendError
├── NotFound                    a tenant-owned thing does not exist (or is another tenant's)
├── ValidationFailed            input breaks a rule; carries every FieldError at once
├── Conflict                    the request collides with existing state
│   └── IdempotencyConflict     same Idempotency-Key, different body
├── InvalidState                the resource's lifecycle state forbids the action
├── AuthenticationFailed        no credential, or one that resolves to nothing
├── PermissionDenied            authenticated, but a permission is missing
│   ├── TenantSuspended
│   └── SenderDomainNotVerified
├── RateLimited                 a limit window is exhausted
├── PayloadTooLarge
├── NotImplementedYet           a documented feature this build does not provide (501)
├── CryptoError                 ciphertext tampered with or encrypted under an unknown key
└── StorageError
    └── ObjectNotFound
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with the input, in SendGrid's terms: a message, a dotted field path, help."""

    message: str
    field: str | None = None
    help: str | None = None


class ScaiSendError(Exception):
    """Base of every expected failure; carries a human-readable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ScaiSendError):
    pass


class ValidationFailed(ScaiSendError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors) or "invalid request")
        self.errors = errors

    @classmethod
    def single(cls, message: str, field: str | None = None) -> ValidationFailed:
        return cls([FieldError(message, field)])


class Conflict(ScaiSendError):
    pass


class IdempotencyConflict(Conflict):
    pass


class InvalidState(ScaiSendError):
    def __init__(self, message: str, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current


class AuthenticationFailed(ScaiSendError):
    pass


class PermissionDenied(ScaiSendError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TenantSuspended(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("Tenant is suspended")


class SenderDomainNotVerified(PermissionDenied):
    def __init__(self, domain: str) -> None:
        super().__init__("Sender domain not verified", field="from")
        self.domain = domain


class RateLimited(ScaiSendError):
    def __init__(self, limit: int, reset_at: int, retry_after: int) -> None:
        super().__init__("Rate limit exceeded")
        self.limit = limit
        self.reset_at = reset_at
        self.retry_after = retry_after


class PayloadTooLarge(ScaiSendError):
    pass


class NotImplementedYet(ScaiSendError):
    pass


class CryptoError(ScaiSendError):
    pass


class StorageError(ScaiSendError):
    pass


class ObjectNotFound(StorageError):
    pass
