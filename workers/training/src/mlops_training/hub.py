"""Fail fast on a base model the Hugging Face Hub will not give: before the tokenizer and the
weights are downloaded, one metadata call (`model_info`) tells a model that does not exist from a
gated or private one without (or with the wrong) token, and the job fails at once with that reason,
which becomes the run's failure on its timeline (not a timeout later)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from mlops_training.config import ConfigError

log = logging.getLogger(__name__)

TOKEN_HELP = "put a token with access in the Secrets Manager secret mlops/hf-token (locally: set HF_TOKEN)"  # noqa: S105 (advice, not a secret)


def check_hub_model(name: str, revision: str | None, env: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError naming the reason when the Hub refuses `name`; network trouble or offline
    mode is left to the download itself (it may still be in the local cache)."""
    env = os.environ if env is None else env
    if env.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    has_token = bool(os.environ.get("HF_TOKEN"))
    try:
        HfApi().model_info(name, revision=revision)
    except GatedRepoError:
        why = "the token given has no access to it" if has_token else "no Hugging Face token was given"
        raise ConfigError(
            f"model_id {name}: a gated model on the Hugging Face Hub and {why}: {TOKEN_HELP}"
        ) from None
    except RevisionNotFoundError:
        raise ConfigError(
            f"model_id {name}@{revision}: the Hugging Face Hub has no revision {revision}"
        ) from None
    except RepositoryNotFoundError:
        private = "" if has_token else f" (a private model needs a token: {TOKEN_HELP})"
        raise ConfigError(f"model_id {name}: no such model on the Hugging Face Hub{private}") from None
    except Exception as exc:  # the network, the Hub's own trouble: the download decides
        log.warning(
            "could not check model_id %s on the Hugging Face Hub (%s); loading it anyway",
            name,
            type(exc).__name__,
        )
