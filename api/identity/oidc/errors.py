"""Every way an external login fails: each an OIDCError with a stable, log-safe `reason` and the HTTP status the
callback answers with (the user sees one generic message)."""

from __future__ import annotations


class OIDCError(Exception):
    """Base of every login failure. `reason` is a stable, log-safe code; the message is for humans."""

    status = 400

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


class ConfigurationError(OIDCError):
    status = 500


class DiscoveryError(OIDCError):
    """The provider's metadata or keys could not be fetched or are not acceptable."""
    status = 502


class StateError(OIDCError):
    """No login in progress in this browser, a state that does not match, is unknown, used before or expired."""


class ProviderError(OIDCError):
    """The provider sent an error to the redirect URI (e.g. access_denied), or a wrong `iss` parameter."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error, description)
        self.error, self.description = error, description


class TokenExchangeError(OIDCError):
    """The token endpoint refused the code (invalid_grant: wrong/missing PKCE verifier, used or expired code)."""
    status = 401

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error, description)
        self.error, self.description = error, description


class IDTokenError(OIDCError):
    """The ID token is not acceptable. reason: missing_id_token, malformed, alg_not_allowed, unknown_key,
    bad_signature, wrong_issuer, wrong_audience, wrong_azp, expired, issued_in_future, too_old, not_yet_valid,
    wrong_nonce, wrong_at_hash, missing_claim, invalid_claim."""
    status = 401


class AccessDenied(OIDCError):
    """Authenticated, but no Opsledger role could be given (no mapping matched and no default role)."""
    status = 403
