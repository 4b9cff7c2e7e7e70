"""The development signer of `make dev` and the tests: it plays the load balancer's sign-in.

In AWS the Application Load Balancer signs people in (OIDC) and adds `x-amzn-oidc-data` to their
requests: a JWT it signs with ES256, whose public key the API fetches by `kid` from the regional
key endpoint (mlops_api.auth.identity). Locally nothing signs people in, so this module:

- makes an EC P-256 key pair at start, with a fresh `kid`, and serves the public key as PEM at
  `{url}/keys/{kid}` - the path shape of `https://public-keys.auth.elb.{region}.amazonaws.com/{kid}`,
  so the API's OIDC_PUBLIC_KEY_URL points here and the same verification code runs;
- mints tokens exactly as the ALB does: header `alg`, `kid`, `signer` (a development ALB ARN), `iss`,
  `client`, `exp`; base64url segments padded with `=` (the ALB's quirk);
- serves a sign-in page (`/sign-in`) listing the local people; choosing one sets the token as the
  cookie OIDC_DEV_COOKIE names, which the API and the dashboard read in development only, in place
  of the header the ALB would add (docs/decisions/0017-people-signed-in-at-the-load-balancer.md).

http.server is enough here, as for the Teams inbox: one local browser, a few requests a minute.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

DEV_ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:000000000000:loadbalancer/app/mlops-dev/0123456789abcdef"
)
DEV_ISSUER = "http://127.0.0.1/dev-sign-in"
DEV_COOKIE = "mlops_dev_oidc_data"
TOKEN_SECONDS = 8 * 3600  # a working day; the ALB's session lasts as its IdP's does


@dataclass(frozen=True)
class LocalPerson:
    user: str
    name: str
    email: str
    groups: tuple[str, ...]

    @property
    def claims(self) -> dict[str, Any]:
        """What an IdP's user info endpoint answers, as the ALB passes it on."""
        return {
            "sub": f"local|{self.user}",
            "name": self.name,
            "email": self.email,
            "groups": list(self.groups),
        }


# One person per role, in the groups the API's default OIDC_ROLE_GROUPS maps.
LOCAL_PEOPLE: tuple[LocalPerson, ...] = (
    LocalPerson("ada", "Ada Lovelace", "ada@example.com", ("mlops-approvers",)),
    LocalPerson("grace", "Grace Hopper", "grace@example.com", ("mlops-operators",)),
    LocalPerson("alan", "Alan Turing", "alan@example.com", ("mlops-viewers",)),
    LocalPerson("edsger", "Edsger Dijkstra", "edsger@example.com", ("mlops-admins",)),
    LocalPerson("nobody", "Nora Nobody", "nora@example.com", ("another-team",)),
)


def b64_padded(data: bytes) -> str:
    """base64url with its `=` padding kept, as the ALB writes its segments."""
    return base64.urlsafe_b64encode(data).decode()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def alb_token(header: Mapping[str, Any], claims: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    """A JWT as the ALB signs it: ES256 over the padded segments, the signature raw r||s."""
    signing_input = (
        f"{b64_padded(json.dumps(dict(header)).encode())}.{b64_padded(json.dumps(dict(claims)).encode())}"
    )
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input.encode(), key)
    return f"{signing_input}.{b64_padded(signature)}"


class DevSigner:
    """The key pair made at start and the tokens it signs."""

    def __init__(self, *, alb_arn: str = DEV_ALB_ARN, issuer: str = DEV_ISSUER) -> None:
        self.key = new_key()
        self.kid = str(uuid.uuid4())
        self.alb_arn = alb_arn
        self.issuer = issuer

    @property
    def public_pem(self) -> str:
        return public_pem(self.key)

    def header(self, expires_at: int) -> dict[str, Any]:
        return {
            "typ": "JWT",
            "kid": self.kid,
            "alg": "ES256",
            "iss": self.issuer,
            "client": "mlops-dev",
            "signer": self.alb_arn,
            "exp": expires_at,
        }

    def sign(self, claims: Mapping[str, Any], *, seconds: int = TOKEN_SECONDS) -> str:
        expires_at = int(time.time()) + seconds
        return alb_token(self.header(expires_at), {**claims, "exp": expires_at, "iss": self.issuer}, self.key)

    def token_for(self, person: LocalPerson, *, seconds: int = TOKEN_SECONDS) -> str:
        return self.sign(person.claims, seconds=seconds)


def person_named(user: str) -> LocalPerson | None:
    return next((p for p in LOCAL_PEOPLE if p.user == user), None)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in (development)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2328}}
button{{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.7rem 1rem;font:inherit;border:1px solid #d0d7de;
border-radius:6px;background:#f6f8fa;cursor:pointer}}button:hover{{background:#eaeef2}}.muted{{color:#656d76}}</style>
</head><body><h1>Sign in</h1>
<p class="muted">Development sign-in of <code>make dev</code>: it plays the load balancer's sign-in through
your identity provider and signs who you choose with this run's development key.</p>
<form method="post" action="/sign-in"><input type="hidden" name="next" value="{next}">{buttons}</form>
</body></html>"""


class DevSignInServer:
    """The signer's public key, the sign-in page and sign-out, on 127.0.0.1."""

    def __init__(
        self,
        signer: DevSigner,
        *,
        default_next: str = "/",
        allowed_next: tuple[str, ...] = (),
        cookie: str = DEV_COOKIE,
        port: int = 0,
    ) -> None:
        self.signer = signer
        self.cookie = cookie
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == f"/keys/{signer.kid}":
                    self._answer(200, signer.public_pem, "application/x-pem-file")
                elif url.path.startswith("/keys/"):
                    self._answer(404, "no such key")
                elif url.path == "/sign-in":
                    self._answer(200, server.page(server.next_of(query)), "text/html; charset=utf-8")
                elif url.path == "/sign-out":
                    self._redirect(server.next_of(query), f"{cookie}=; Path=/; Max-Age=0; SameSite=Lax")
                else:
                    self._answer(404, "not found")

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/sign-in":
                    self._answer(404, "not found")
                    return
                length = min(int(self.headers.get("Content-Length") or 0), 8192)
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                person = person_named((form.get("user") or [""])[0])
                if person is None:
                    self._answer(400, "choose one of the local people")
                    return
                token = signer.token_for(person)
                self._redirect(
                    server.next_of(form),
                    f"{cookie}={token}; Path=/; Max-Age={TOKEN_SECONDS}; HttpOnly; SameSite=Lax",
                )

            def _redirect(self, location: str, set_cookie: str) -> None:
                self.send_response(303)
                self.send_header("Location", location)
                self.send_header("Set-Cookie", set_cookie)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def _answer(self, status: int, text: str, content_type: str = "text/plain") -> None:
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._default_next = default_next
        self._allowed_next = allowed_next
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def public_key_url(self) -> str:
        """OIDC_PUBLIC_KEY_URL of the API: the key of `kid` is at `{this}/{kid}`."""
        return f"{self.url}/keys"

    @property
    def sign_in_url(self) -> str:
        return f"{self.url}/sign-in"

    def next_of(self, query: Mapping[str, list[str]]) -> str:
        """Where to go after signing in: only the local dashboard or API (no open redirect)."""
        wanted = (query.get("next") or [""])[0]
        for base in self._allowed_next:  # an origin, or a prefix ending in ':' (any port) or '/'
            prefix = base if base.endswith((":", "/")) else base + "/"
            if wanted and (wanted == base or wanted.startswith(prefix)):
                return wanted
        return self._default_next

    def page(self, next_url: str) -> str:
        buttons = "".join(
            f'<button type="submit" name="user" value="{escape(p.user)}"><b>{escape(p.name)}</b> '
            f'&lt;{escape(p.email)}&gt; <span class="muted">groups: {escape(", ".join(p.groups))}</span></button>'
            for p in LOCAL_PEOPLE
        )
        return _PAGE.format(next=escape(next_url), buttons=buttons)

    def start(self) -> DevSignInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
