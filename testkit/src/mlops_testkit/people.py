"""Identities of people that look like the load balancer's and are not valid ones (the tests of
the API's identity check and of approval links share them)."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.asymmetric import ec

from mlops_devstack.dev_signer import DevSigner, DevSignInServer, alb_token, b64_padded, person_named

IDENTITY_HEADER = "x-amzn-oidc-data"


def approver_identity(sign_in: DevSignInServer, user: str = "ada") -> dict[str, str]:
    """The headers of an approver's browser behind the load balancer (ada: the local approver)."""
    person = person_named(user)
    assert person is not None
    return {IDENTITY_HEADER: sign_in.signer.token_for(person)}


def bad_identities(signer: DevSigner, user: str = "grace") -> dict[str, str]:
    """Tokens that look like the ALB's and are not valid ones, by what is wrong with them."""
    person = person_named(user)
    assert person is not None
    now = int(time.time())
    claims = {**person.claims, "exp": now + 600}
    header = signer.header(now + 600)
    genuine = signer.token_for(person)
    head, payload, _ = genuine.split(".")
    none_header = b64_padded(json.dumps({**header, "alg": "none"}).encode())
    return {
        "signed by another key": alb_token(header, claims, ec.generate_private_key(ec.SECP256R1())),
        "expired": alb_token(signer.header(now - 1), {**claims, "exp": now - 1}, signer.key),
        "another load balancer": alb_token({**header, "signer": header["signer"] + "x"}, claims, signer.key),
        "unsigned (alg none)": f"{none_header}.{payload}.",
        "no signature": f"{head}.{payload}",
        "claims changed under the signature": ".".join(
            [
                head,
                b64_padded(json.dumps({**claims, "groups": ["mlops-admins"]}).encode()),
                genuine.split(".")[2],
            ]
        ),
    }
