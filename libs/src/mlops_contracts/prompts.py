"""How a fine-tuned model is prompted: written once for the jobs that prompt it after training.

Training renders QA rows through `QA_PROMPT_TEMPLATE` (mlops_training.data) and chat rows through the
tokenizer's chat template, and records which in the artifact's `metadata.json` (`prompt`). The
evaluation worker and the serving container read that record here, so a candidate is asked its
questions exactly as it learned to answer them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

# mlops_training.data.QA_PROMPT_TEMPLATE (training writes it into metadata.json as prompt.template)
DEFAULT_PROMPT_TEMPLATE = "### Context:\n{context}\n\n### Question:\n{question}\n\n### Answer:\n"
CHAT_USER_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"
CONTEXT_SEPARATOR = "\n\n"


def render_prompt(template: str, question: str, contexts: Sequence[str]) -> str:
    return template.replace("{context}", CONTEXT_SEPARATOR.join(contexts)).replace("{question}", question)


def clip_prompt(ids: Sequence[int], limit: int, bos_id: int | None) -> list[int]:
    """A prompt longer than `limit` tokens keeps its end (the question and the answer cue) and its BOS."""
    if len(ids) <= limit:
        return list(ids)
    head = [ids[0]] if bos_id is not None and ids[0] == bos_id else []
    return head + list(ids[len(ids) - (limit - len(head)) :])


@dataclass(frozen=True)
class PromptFormat:
    """How the candidate was prompted in training, so that it is prompted the same way after."""

    kind: Literal["qa", "chat"] = "qa"
    template: str = DEFAULT_PROMPT_TEMPLATE
    bos: bool = True

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> PromptFormat:
        prompt = metadata.get("prompt")
        if isinstance(prompt, dict):
            if prompt.get("format") == "chat":
                return cls(kind="chat", template=CHAT_USER_TEMPLATE, bos=False)
            template = prompt.get("template")
            return cls(
                template=template
                if isinstance(template, str) and "{question}" in template
                else DEFAULT_PROMPT_TEMPLATE,
                bos=bool(prompt.get("bos", True)),
            )
        return cls()

    def encode(self, tokenizer: Any, question: str, contexts: Sequence[str]) -> list[int]:
        """Token ids of the prompt, special tokens as in training (no tokenizer defaults)."""
        text = render_prompt(self.template, question, contexts)
        if self.kind == "chat":
            return self.encode_chat(tokenizer, [{"role": "user", "content": text}])
        return self._with_bos(tokenizer, list(tokenizer(text, add_special_tokens=False)["input_ids"]))

    def encode_chat(self, tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[int]:
        """A conversation through the tokenizer's chat template, with the generation prompt (the
        template writes its own BOS)."""
        text = str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))
        return self._with_bos(tokenizer, list(tokenizer(text, add_special_tokens=False)["input_ids"]))

    def _with_bos(self, tokenizer: Any, ids: list[int]) -> list[int]:
        if self.bos and tokenizer.bos_token_id is not None:
            return [tokenizer.bos_token_id, *ids]
        return ids
