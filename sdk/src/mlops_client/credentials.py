"""Who the SDK calls the API as: an API key, or a person's signed-in session.

Behind the platform's load balancer people sign in through the identity provider
(docs/decisions/0017-people-signed-in-at-the-load-balancer.md). A person's script can call the API as
that person by carrying the load balancer's session cookie (`AWSELBAuthSessionCookie-0=...`, copied
from the browser): the load balancer then adds its signed identity header, which the API verifies.
Such a request also carries SIGNED_IN_HEADER, which the load balancer's rule for signed-in API
clients matches (terraform/modules/alb: sign-in, then the API; an expired session is a 401 there,
not a redirect to the identity provider). Locally (`make dev`) the development sign-in's cookie
(mlops_devstack.dev_signer, `mlops_dev_oidc_data=...`) stands in for it.

A key and a session at once is refused here, as the API refuses a request carrying both.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mlops_client.errors import ConfigurationError

URL_VARIABLES = ("MLOPS_API_URL", "API_URL")
KEY_VARIABLES = ("MLOPS_API_KEY", "API_KEY")
SESSION_VARIABLE = "MLOPS_SESSION_COOKIE"
SIGNED_IN_HEADER = "X-MLOps-Signed-In"

# RFC 6265's cookie-name token
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str | None = None
    session_cookie: str | None = None

    def headers(self) -> dict[str, str]:
        if self.session_cookie:
            return {"Cookie": self.session_cookie, SIGNED_IN_HEADER: "1"}
        return {}


def session_cookie(value: str) -> str:
    """The session cookie as a `Cookie` header value: `name=value` pairs separated by `;`, as the
    browser sends them (the load balancer splits a large session into -0, -1, ... cookies)."""
    pairs = [part.strip() for part in value.split(";") if part.strip()]
    for pair in pairs:
        name, equals, content = pair.partition("=")
        if not equals or not content or not _COOKIE_NAME.match(name):
            raise ConfigurationError(
                f"{SESSION_VARIABLE} must be the cookie as the browser sends it, name=value pairs "
                "separated by ';' (e.g. AWSELBAuthSessionCookie-0=...; AWSELBAuthSessionCookie-1=..., "
                f"or mlops_dev_oidc_data=... under make dev); got a part without a name: {name[:12]!r}..."
            )
    if not pairs:
        raise ConfigurationError(f"{SESSION_VARIABLE} is empty")
    return "; ".join(pairs)


def credentials_from_env() -> Credentials:
    """MLOPS_API_URL, and either MLOPS_API_KEY or MLOPS_SESSION_COOKIE (API_URL / API_KEY also
    accepted)."""
    url = next((os.environ[v] for v in URL_VARIABLES if os.environ.get(v)), None)
    key_variable = next((v for v in KEY_VARIABLES if os.environ.get(v)), None)
    cookie = os.environ.get(SESSION_VARIABLE, "").strip()
    if key_variable and cookie:
        raise ConfigurationError(
            f"both {key_variable} and {SESSION_VARIABLE} are set: the API takes an API key or a "
            "signed-in session, never both - unset one"
        )
    missing = [] if url else [URL_VARIABLES[0]]
    if not key_variable and not cookie:
        missing.append(f"{KEY_VARIABLES[0]} (or {SESSION_VARIABLE})")
    if missing:
        raise ConfigurationError(
            f"set {' and '.join(missing)} (the platform API's URL and an API key or your signed-in session)"
        )
    assert url
    if cookie:
        return Credentials(url, session_cookie=session_cookie(cookie))
    assert key_variable
    return Credentials(url, api_key=os.environ[key_variable])
