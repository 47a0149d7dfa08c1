"""ID-token validation, one check at a time: tokens signed here, the provider's discovery
document and JWKS served through an in-process transport (the provider is the port)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mosaic.core.settings import OidcProviderSettings
from mosaic.identity.oidc_client import (
    CodeRejected,
    IdTokenInvalid,
    OidcClient,
    ProviderUnavailable,
)

ISSUER = "https://idp.example.test"
CLIENT_ID = "mosaic"
NONCE = "n-0S6_WzA2Mj"
CLIENT_SECRET = "s3cr:t"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeProvider:
    """Discovery and JWKS of ``ISSUER``; counts how often the keys are fetched."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=lambda: {"k1": _rsa_key()})
    issuer_in_document: str = ISSUER
    jwks_fetches: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer_in_document,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if request.url.path == "/jwks":
            self.jwks_fetches += 1
            jwks = [
                {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
                for kid, key in self.keys.items()
            ]
            return httpx.Response(200, json={"keys": jwks})
        return httpx.Response(404)

    def client(self) -> OidcClient:
        settings = OidcProviderSettings(issuer=ISSUER, client_id=CLIENT_ID)
        return OidcClient("idp", settings, transport=httpx.MockTransport(self.handle))

    def token(
        self, kid: str = "k1", *, key: Any = None, algorithm: str = "RS256", **claims: Any
    ) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "248289761001",
            "iat": now,
            "exp": now + 300,
            "nonce": NONCE,
            "email": "jane@example.com",
            "email_verified": True,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        signing_key = key if key is not None else self.keys[kid]
        return jwt.encode(body, signing_key, algorithm=algorithm, headers={"kid": kid})


async def test_a_valid_token_gives_its_claims() -> None:
    provider = FakeProvider()

    claims = await provider.client().validate_id_token(provider.token(), nonce=NONCE)

    assert claims.subject == "248289761001"
    assert claims.email == "jane@example.com"
    assert claims.email_verified is True


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "someone-else"}, "InvalidAudienceError"),
        ({"iss": "https://other.example"}, "InvalidIssuerError"),
        ({"exp": int(time.time()) - 3600}, "ExpiredSignatureError"),
        ({"iat": None}, "MissingRequiredClaimError"),
        ({"nonce": "replayed"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": [CLIENT_ID, "other"], "azp": "other"}, "azp"),
    ],
)
async def test_a_token_failing_a_claim_check_is_refused(
    claims: dict[str, Any], reason: str
) -> None:
    provider = FakeProvider()

    with pytest.raises(IdTokenInvalid) as refused:
        await provider.client().validate_id_token(provider.token(**claims), nonce=NONCE)

    assert str(refused.value) == reason


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    provider = FakeProvider()

    with pytest.raises(IdTokenInvalid, match="InvalidSignatureError"):
        await provider.client().validate_id_token(provider.token(key=_rsa_key()), nonce=NONCE)


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
async def test_symmetric_and_unsigned_tokens_are_refused(algorithm: str) -> None:
    provider = FakeProvider()
    key = None if algorithm == "none" else "the-client-secret-at-least-32-bytes!"
    token = jwt.encode(
        {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "nonce": NONCE},
        key,  # type: ignore[arg-type]
        algorithm=algorithm,
        headers={"kid": "k1"},
    )

    with pytest.raises(IdTokenInvalid, match="algorithm not allowed"):
        await provider.client().validate_id_token(token, nonce=NONCE)


async def test_a_rotated_key_is_fetched_once_and_cached() -> None:
    provider = FakeProvider()
    client = provider.client()
    client.jwks_min_refresh_seconds = 0  # as if the last fetch were long ago
    await client.validate_id_token(provider.token(), nonce=NONCE)
    provider.keys["k2"] = _rsa_key()  # the provider rotates

    await client.validate_id_token(provider.token("k2"), nonce=NONCE)
    await client.validate_id_token(provider.token("k2"), nonce=NONCE)

    assert provider.jwks_fetches == 2


async def test_made_up_key_ids_do_not_cause_a_fetch_each() -> None:
    provider = FakeProvider()
    client = provider.client()
    await client.validate_id_token(provider.token(), nonce=NONCE)

    for kid in ("forged-1", "forged-2", "forged-3"):
        with pytest.raises(IdTokenInvalid, match="unknown signing key"):
            await client.validate_id_token(provider.token(kid, key=_rsa_key()), nonce=NONCE)

    assert provider.jwks_fetches == 1


async def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    provider = FakeProvider(issuer_in_document="https://impostor.example")

    with pytest.raises(ProviderUnavailable):
        await provider.client().metadata()


@dataclass
class TokenEndpoint:
    """A token endpoint answering ``status`` with ``body``; keeps the last request."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"id_token": "header.payload.signature"})
    seen: httpx.Request | None = None

    def client(self, *, secret: str | None = CLIENT_SECRET) -> OidcClient:
        provider = FakeProvider()

        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path != "/token":
                return provider.handle(request)
            self.seen = request
            return httpx.Response(self.status, json=self.body)

        settings = OidcProviderSettings(issuer=ISSUER, client_id="id:1", client_secret=secret)
        return OidcClient("idp", settings, transport=httpx.MockTransport(handle))


async def test_the_code_is_exchanged_with_the_pkce_verifier_and_basic_authentication() -> None:
    endpoint = TokenEndpoint()

    id_token = await endpoint.client().exchange_code(
        code="the-code", redirect_uri="https://mosaic/cb", code_verifier="v" * 64
    )

    assert id_token == "header.payload.signature"
    assert endpoint.seen is not None
    form = dict(httpx.QueryParams(endpoint.seen.content.decode()))
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://mosaic/cb",
        "code_verifier": "v" * 64,
    }
    # RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
    expected = base64.b64encode(b"id%3A1:s3cr%3At").decode()
    assert endpoint.seen.headers["authorization"] == f"Basic {expected}"


async def test_a_public_client_sends_its_id_in_the_form() -> None:
    endpoint = TokenEndpoint()

    await endpoint.client(secret=None).exchange_code(
        code="c", redirect_uri="https://mosaic/cb", code_verifier="v" * 64
    )

    assert endpoint.seen is not None
    assert "authorization" not in endpoint.seen.headers
    assert dict(httpx.QueryParams(endpoint.seen.content.decode()))["client_id"] == "id:1"


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (400, {"error": "invalid_grant"}, CodeRejected),
        (401, {"error": "invalid_client"}, CodeRejected),
        (503, {"error": "temporarily_unavailable"}, ProviderUnavailable),
        (200, ["not", "an", "object"], ProviderUnavailable),
        (200, {"access_token": "no id token"}, IdTokenInvalid),
    ],
)
async def test_token_endpoint_failures_are_told_apart(
    status: int, body: Any, raised: type[Exception]
) -> None:
    endpoint = TokenEndpoint(status=status, body=body)

    with pytest.raises(raised):
        await endpoint.client().exchange_code(
            code="c", redirect_uri="https://mosaic/cb", code_verifier="v" * 64
        )


async def test_an_unreachable_provider_is_unavailable() -> None:
    settings = OidcProviderSettings(issuer="http://127.0.0.1:9", client_id="x")

    with pytest.raises(ProviderUnavailable):
        await OidcClient("down", settings).metadata()
