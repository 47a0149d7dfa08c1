"""The port to OpenID Connect providers: discovery, the code exchange and ID-token validation.

One ``OidcClient`` per configured provider, kept for the life of the process: the discovery
document and the provider's signing keys (JWKS) are cached, the keys re-read when an ID token
names a key id we do not know (a provider rotated its keys) — at most every
``_JWKS_MIN_REFRESH_SECONDS``, so forged key ids cannot turn into a fetch each.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
import structlog

from mosaic.core.settings import OidcProviderSettings

logger = structlog.get_logger(__name__)

_HTTP_TIMEOUT = httpx.Timeout(10.0)
_DISCOVERY_TTL_SECONDS = 3600.0
_JWKS_MIN_REFRESH_SECONDS = 30.0
_CLOCK_SKEW_SECONDS = 60
# Asymmetric algorithms only: "none" and the HMAC family (keyed with the client secret, or
# with a public key by confusion) are never accepted for ID tokens.
_ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered with something that is not OIDC."""


class CodeRejected(Exception):
    """The token endpoint refused the authorization code (the provider's ``error``)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class IdTokenInvalid(Exception):
    """The ID token failed validation; the message says which check (never the token)."""


@dataclass(frozen=True)
class IdTokenClaims:
    """The claims Mosaic uses from a validated ID token."""

    subject: str
    email: str | None
    email_verified: bool
    given_name: str
    family_name: str
    name: str | None
    picture: str | None


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class OidcClient:
    """One provider: its discovery document and keys, cached per process."""

    name: str
    settings: OidcProviderSettings
    # Tests may route HTTP elsewhere; in service this is None (the network).
    transport: httpx.AsyncBaseTransport | None = None
    jwks_min_refresh_seconds: float = _JWKS_MIN_REFRESH_SECONDS
    _metadata: dict[str, Any] | None = None
    _metadata_expires: float = 0.0
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _keys_fetched: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def issuer(self) -> str:
        return self.settings.issuer.rstrip("/")

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour)."""
        if self._metadata is not None and self._metadata_expires > time.monotonic():
            return self._metadata
        async with self._lock:
            if self._metadata is None or self._metadata_expires <= time.monotonic():
                url = f"{self.issuer}/.well-known/openid-configuration"
                document = await _get_json(url, transport=self.transport)
                required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if any(not isinstance(document.get(name), str) for name in required):
                    raise ProviderUnavailable(f"discovery document of {self.name} is incomplete")
                # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
                if document["issuer"].rstrip("/") != self.issuer:
                    raise ProviderUnavailable(f"discovery document of {self.name}: wrong issuer")
                self._metadata = document
                self._metadata_expires = time.monotonic() + _DISCOVERY_TTL_SECONDS
        return self._metadata

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        """Where to send the browser: the authorization endpoint with state, nonce and PKCE."""
        endpoint: str = (await self.metadata())["authorization_endpoint"]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge(code_verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """Trade the authorization code (with the PKCE verifier) for the ID token."""
        endpoint: str = (await self.metadata())["token_endpoint"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        auth: httpx.Auth | None = None
        secret = self.settings.client_secret
        if secret is None:
            form["client_id"] = self.settings.client_id
        else:
            # RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
            auth = httpx.BasicAuth(
                quote(self.settings.client_id, safe=""), quote(secret.get_secret_value(), safe="")
            )
        try:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT, transport=self.transport) as client:
                response = await client.post(
                    endpoint,
                    data=form,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"token endpoint of {self.name}: {type(exc).__name__}"
            ) from None
        body = _json_object(response)
        if response.status_code >= 400 or body is None:
            error = str(body.get("error", "unknown")) if body else f"http_{response.status_code}"
            if response.status_code >= 500 or body is None:
                raise ProviderUnavailable(f"token endpoint of {self.name}: {error}")
            raise CodeRejected(error[:64])
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise IdTokenInvalid("the token response has no id_token")
        return id_token

    async def validate_id_token(self, id_token: str, *, nonce: str) -> IdTokenClaims:
        """Check signature (provider's JWKS), iss, aud, exp, iat and nonce; the claims."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise IdTokenInvalid("malformed") from None
        algorithm = header.get("alg")
        if algorithm not in _ALLOWED_ALGORITHMS:
            raise IdTokenInvalid("algorithm not allowed")
        key = await self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[algorithm],
                audience=self.settings.client_id,
                issuer=self.issuer,
                leeway=_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise IdTokenInvalid(type(exc).__name__) from None
        audience = claims["aud"]
        # OIDC Core §3.1.3.7: with several audiences, the authorized party must be us.
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.settings.client_id:
            raise IdTokenInvalid("azp")
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(presented, nonce):
            raise IdTokenInvalid("nonce")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise IdTokenInvalid("sub")
        email = claims.get("email")
        verified = claims.get("email_verified")
        return IdTokenClaims(
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            # Some providers send "true" as a string; anything else is not verified.
            email_verified=verified is True or verified == "true",
            given_name=_text(claims.get("given_name"), 100),
            family_name=_text(claims.get("family_name"), 100),
            name=_text(claims.get("name"), 200) or None,
            picture=_text(claims.get("picture"), 2048) or None,
        )

    async def _signing_key(self, kid: object) -> jwt.PyJWK:
        key = self._lookup(kid)
        if key is None and time.monotonic() - self._keys_fetched >= self.jwks_min_refresh_seconds:
            await self._fetch_keys()
            key = self._lookup(kid)
        if key is None:
            raise IdTokenInvalid("unknown signing key")
        return key

    def _lookup(self, kid: object) -> jwt.PyJWK | None:
        if isinstance(kid, str):
            return self._keys.get(kid)
        # A token without a kid is acceptable only when the provider has a single key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _fetch_keys(self) -> None:
        jwks_uri: str = (await self.metadata())["jwks_uri"]
        async with self._lock:
            self._keys_fetched = time.monotonic()
            document = await _get_json(jwks_uri, transport=self.transport)
            keys: dict[str, jwt.PyJWK] = {}
            for index, entry in enumerate(document.get("keys", [])):
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                    continue
                try:
                    key = jwt.PyJWK(entry)
                except jwt.PyJWTError:
                    continue  # a key type we cannot use; the others still verify
                keys[str(entry.get("kid", f"#{index}"))] = key
            self._keys = keys


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _get_json(url: str, *, transport: httpx.AsyncBaseTransport | None) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT, transport=transport) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        logger.warning("oidc_provider_unreachable", url=url, error=type(exc).__name__)
        raise ProviderUnavailable(f"{url}: {type(exc).__name__}") from None
    body = _json_object(response)
    if response.status_code != 200 or body is None:
        logger.warning("oidc_provider_bad_answer", url=url, status=response.status_code)
        raise ProviderUnavailable(f"{url}: HTTP {response.status_code}")
    return body


@dataclass
class OidcProviders:
    """Every configured provider by name."""

    clients: dict[str, OidcClient]

    @classmethod
    def from_settings(cls, providers: dict[str, OidcProviderSettings]) -> OidcProviders:
        return cls({name: OidcClient(name, settings) for name, settings in providers.items()})

    def get(self, name: str) -> OidcClient | None:
        return self.clients.get(name)
