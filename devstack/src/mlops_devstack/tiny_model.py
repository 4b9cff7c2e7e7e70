"""A tiny causal LM and tokenizer built offline, for tests and the offline demo.

Nothing can be downloaded from a model hub here, so the tokenizer is trained on the given texts and
the model is initialised from a Mistral-style config. Both are saved with `save_pretrained`, so the
code under test loads them through the same `from_pretrained(path)` that loads
`mistralai/Mistral-7B-v0.1` in production.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}

# A minimal chat template in the Mistral style, so chat-format datasets render through
# `tokenizer.apply_chat_template` exactly as they would with a hub tokenizer.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}[{{ message['role'] | upper }}] {{ message['content'] }} [/{{ message['role'] | upper }}]"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{% endif %}"
)


def build_tiny_model(
    path: Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate_size: int = 128,
    max_positions: int = 1024,
    seed: int = 0,
) -> Path:
    """Build (or reuse, when built from the same texts and shape) a tiny model under `path`."""
    texts = list(texts)
    spec = {
        "texts": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        "shape": [vocab_size, hidden_size, layers, heads, kv_heads, intermediate_size, max_positions, seed],
    }
    stamp = path / "tiny-model.json"
    if stamp.exists() and json.loads(stamp.read_text()) == spec:
        return path

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, **SPECIAL_TOKENS)  # type: ignore[no-untyped-call]
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = max_positions
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    MistralForCausalLM(config).save_pretrained(path)
    stamp.write_text(json.dumps(spec))
    return path
