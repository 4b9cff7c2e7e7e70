"""The check of the load balancer's signed identity header (mlops_api.auth.identity) with real ES256
signatures: keys made here, the public key fetched over HTTP from the development signer as the API
fetches the ALB's. The API-level refusals (401, nothing recorded) are in test_people.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mlops_api.auth.identity import (
    IdentityRefused,
    IdentityVerifier,
    KeyUnavailable,
    PublicKeys,
    parse_role_groups,
)
from mlops_api.auth.roles import Role
from mlops_devstack.dev_signer import (
    LOCAL_PEOPLE,
    DevSigner,
    DevSignInServer,
    alb_token,
    b64_padded,
)

pytestmark = pytest.mark.unit

ADA = next(p for p in LOCAL_PEOPLE if p.user == "ada")
ROLES = {"mlops-approvers": Role.APPROVER, "mlops-operators": Role.OPERATOR, "mlops-admins": Role.ADMIN}


@pytest.fixture(scope="module")
def sign_in() -> Iterator[DevSignInServer]:
    server = DevSignInServer(DevSigner()).start()
    yield server
    server.stop()


def verifier(sign_in: DevSignInServer, **overrides: Any) -> IdentityVerifier:
    settings: dict[str, Any] = {
        "alb_arn": sign_in.signer.alb_arn,
        "keys": PublicKeys(sign_in.public_key_url),
        "role_groups": ROLES,
        **overrides,
    }
    return IdentityVerifier(**settings)


def verify(check: IdentityVerifier, token: str) -> Any:
    return asyncio.run(check.verify(token))


def refused(check: IdentityVerifier, token: str) -> str:
    with pytest.raises(IdentityRefused) as caught:
        verify(check, token)
    return str(caught.value)


def test_a_token_of_the_load_balancer_passes_with_its_padding(sign_in: DevSignInServer) -> None:
    token = sign_in.signer.token_for(ADA)
    check = verifier(sign_in)
    person = verify(check, token)
    assert (person.subject, person.email, person.name) == ("local|ada", "ada@example.com", "Ada Lovelace")
    assert check.role_of(person) is Role.APPROVER


def test_padded_segments_are_verified(sign_in: DevSignInServer) -> None:
    """The ALB keeps `=` padding in its segments (AWS: "standard libraries are not compatible with
    the padding"): a token whose payload and signature are padded passes."""
    check = verifier(sign_in)
    for extra in ("", "x", "xy"):  # one of these lengths pads every segment
        token = sign_in.signer.sign({**ADA.claims, "name": "Ada" + extra})
        if all(segment.endswith("=") for segment in token.split(".")[1:]):
            assert verify(check, token).name == "Ada" + extra
            return
    pytest.fail("no fully padded token was made")


def test_refusals(sign_in: DevSignInServer) -> None:
    check = verifier(sign_in)
    signer = sign_in.signer
    now = int(time.time())
    claims = {**ADA.claims, "exp": now + 600}

    another_key = alb_token(signer.header(now + 600), claims, ec.generate_private_key(ec.SECP256R1()))
    assert "signature is not valid" in refused(check, another_key)

    expired = alb_token(signer.header(now - 5), {**claims, "exp": now - 5}, signer.key)
    assert "expired" in refused(check, expired)
    # the ALB's exp is in the JWT header: a payload without exp does not make it last forever
    expired_header_only = alb_token(signer.header(now - 5), ADA.claims, signer.key)
    assert "expired" in refused(check, expired_header_only)

    other_alb = alb_token(
        {**signer.header(now + 600), "signer": signer.alb_arn + "-other"}, claims, signer.key
    )
    assert "not signed by this platform's load balancer" in refused(check, other_alb)

    header_none = {**signer.header(now + 600), "alg": "none"}
    unsigned = f"{b64_padded(json.dumps(header_none).encode())}.{b64_padded(json.dumps(claims).encode())}."
    assert "not a signed JWT" in refused(check, unsigned)
    unsigned_with_junk = unsigned + "c2ln"
    assert "must be signed ES256" in refused(check, unsigned_with_junk)

    genuine = signer.token_for(ADA)
    head, payload, _ = genuine.split(".")
    assert "not a signed JWT" in refused(check, f"{head}.{payload}")  # the signature dropped
    assert "not a signed JWT" in refused(check, f"{head}.{payload}.")
    # claims swapped under a genuine signature
    forged_claims = b64_padded(json.dumps({**claims, "groups": ["mlops-admins"]}).encode())
    assert "signature is not valid" in refused(check, f"{head}.{forged_claims}.{genuine.split('.')[2]}")

    # HS256 "signed" with the public key (the classic algorithm confusion)
    hs_input = ".".join(
        b64_padded(json.dumps(part).encode())
        for part in ({**signer.header(now + 600), "alg": "HS256"}, claims)
    )
    hs_signature = hmac.new(signer.public_pem.encode(), hs_input.encode(), hashlib.sha256).digest()
    hs = f"{hs_input}.{b64_padded(hs_signature)}"
    assert "must be signed ES256" in refused(check, hs)

    unknown_kid = alb_token({**signer.header(now + 600), "kid": "0000-unknown"}, claims, signer.key)
    assert "no public key" in refused(check, unknown_kid)
    path_kid = alb_token({**signer.header(now + 600), "kid": "../sign-in"}, claims, signer.key)
    assert "no valid kid" in refused(check, path_kid)
    for junk in ("", "abc", "a.b.c", base64.b64encode(b"{}").decode() + ".e30.e30"):
        refused(check, junk)


def test_a_token_without_subject_is_refused(sign_in: DevSignInServer) -> None:
    no_sub = {k: v for k, v in ADA.claims.items() if k != "sub"}
    assert "no subject" in refused(verifier(sign_in), sign_in.signer.sign(no_sub))


def test_groups_map_to_one_role(sign_in: DevSignInServer) -> None:
    check = verifier(sign_in)
    roles = {p.user: check.role_of(verify(check, sign_in.signer.token_for(p))) for p in LOCAL_PEOPLE}
    assert roles == {
        "ada": Role.APPROVER,
        "grace": Role.OPERATOR,
        "alan": None,  # mlops-viewers is not in this test's mapping
        "edsger": Role.ADMIN,
        "nobody": None,
    }
    both = sign_in.signer.sign({**ADA.claims, "groups": "mlops-operators mlops-approvers"})
    assert check.role_of(verify(check, both)) is Role.APPROVER  # a string claim; approver before operator
    custom = verifier(sign_in, groups_claim="cognito:groups")
    person = verify(custom, sign_in.signer.sign({**ADA.claims, "cognito:groups": ["mlops-admins"]}))
    assert custom.role_of(person) is Role.ADMIN


def test_role_groups_accept_only_peoples_roles() -> None:
    assert parse_role_groups('{"g": "viewer"}') == {"g": Role.VIEWER}
    for bad in ('{"g": "projector"}', '{"g": "root"}', '["viewer"]'):
        with pytest.raises(ValueError, match="OIDC_ROLE_GROUPS"):
            parse_role_groups(bad)


def test_an_unreachable_key_endpoint_is_unavailable_not_a_pass(sign_in: DevSignInServer) -> None:
    check = verifier(sign_in, keys=PublicKeys("http://127.0.0.1:9/keys", timeout=1))
    with pytest.raises(KeyUnavailable):
        verify(check, sign_in.signer.token_for(ADA))


def test_made_up_kids_leave_nothing_behind_and_one_fetch_serves_many(sign_in: DevSignInServer) -> None:
    keys = PublicKeys(sign_in.public_key_url)
    check = verifier(sign_in, keys=keys)
    signer = sign_in.signer
    now = int(time.time())

    async def many() -> list[object]:
        made_up = [
            alb_token({**signer.header(now + 60), "kid": f"made-up-{i}"}, ADA.claims, signer.key)
            for i in range(20)
        ]
        genuine = [signer.token_for(ADA) for _ in range(20)]
        return await asyncio.gather(*(check.verify(t) for t in made_up + genuine), return_exceptions=True)

    results = asyncio.run(many())
    assert all(isinstance(r, IdentityRefused) for r in results[:20])
    assert all(getattr(r, "email", None) == "ada@example.com" for r in results[20:])
    assert keys._locks == {}
