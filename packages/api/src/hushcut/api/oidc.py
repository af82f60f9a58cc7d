"""OpenID Connect sign-in (Google by default): authorization code + PKCE, verified id_token."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

if TYPE_CHECKING:
    # authlib ships no type information.
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped, unused-ignore]

DISCOVERY_TTL_S = 3600.0
CLOCK_LEEWAY_S = 60


class SignInError(Exception):
    """Sign-in failed; the message is safe to show to the person signing in."""


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """What a verified id_token says about the person."""

    issuer: str
    subject: str
    email: str
    #: Only the JSON boolean ``true`` counts: an absent claim or the string "false" does
    #: not vouch for the address.
    email_verified: bool
    name: str | None


def issuer_variants(issuer: str) -> list[str]:
    """Google signs ``iss`` both as ``https://accounts.google.com`` and without the scheme."""
    bare = issuer.removeprefix("https://").removeprefix("http://").rstrip("/")
    return sorted({issuer.rstrip("/"), bare})


class OidcProvider:
    """One OIDC issuer: its discovery document and JWKS (cached), and the code exchange."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    def _client(self) -> AsyncOAuth2Client:
        # Imported on first sign-in: servers without Google sign-in never load it.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope="openid email profile",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=10.0,
        )

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL_S:
                url = f"{self.issuer}/.well-known/openid-configuration"
                async with httpx.AsyncClient(timeout=10.0) as http:
                    response = await http.get(url)
                response.raise_for_status()
                self._metadata = response.json()
                self._metadata_at = time.monotonic()
                self._keys = None
            return self._metadata

    async def _key_set(self, refresh: bool = False) -> KeySet:
        metadata = await self.metadata()
        if self._keys is None or refresh:
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.get(metadata["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    async def authorization_url(self) -> tuple[str, dict[str, str]]:
        """The provider URL to send the browser to, and the values to keep until callback."""
        metadata = await self.metadata()
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                nonce=nonce,
            )
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    async def exchange(self, code: str, verifier: str, nonce: str) -> VerifiedIdentity:
        """Trade the code for tokens and verify the id_token's signature and claims."""
        metadata = await self.metadata()
        try:
            async with self._client() as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=verifier
                )
        except Exception as exc:  # authlib raises OAuthError or httpx errors
            raise SignInError("the identity provider refused the sign-in code") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the identity provider returned no id_token")
        return await self.verify_id_token(id_token, nonce)

    async def verify_id_token(self, id_token: str, nonce: str) -> VerifiedIdentity:
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), algorithms=["RS256"])
            except JoseError:
                # The provider may have rotated its keys since we cached them.
                decoded = jwt.decode(
                    id_token, await self._key_set(refresh=True), algorithms=["RS256"]
                )
            registry = jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_S,
                iss={"essential": True, "values": issuer_variants(self.issuer)},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True},
                sub={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInError(f"the id_token was not valid: {exc}") from exc
        claims = decoded.claims
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise SignInError("the identity provider did not share an email address")
        name = claims.get("name")
        return VerifiedIdentity(
            # The configured issuer, not the token's spelling of it (Google writes it
            # with and without the scheme): one person, one identity.
            issuer=self.issuer,
            subject=str(claims["sub"]),
            email=email.lower(),
            email_verified=claims.get("email_verified") is True,
            name=name if isinstance(name, str) else None,
        )
