"""The training loop: lean on purpose. No Trainer callbacks, no per-step host sync (losses stay on
the device until a logging window closes), pinned non-blocking copies, fused AdamW on CUDA.

Steps are optimizer steps. A micro-batch is `batch_size` *examples*, packed or not (packing only
changes how they are laid out in rows: packing.micro_batch_rows), so a step covers the same data and
makes the same update either way, and packing changes speed, not the model. Each epoch visits the
examples in `epoch_order(seed, epoch)`; step `s` of the run is micro-batches `[s_e * GA, (s_e + 1) *
GA)` of epoch `s // steps_per_epoch`, whatever happened before it, so a job resumed from a checkpoint
at step `s` continues with exactly the batches (and, with the RNG state restored, the dropout masks)
the uninterrupted job would have used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mlops_training.config import Hyperparameters
from mlops_training.data import Example
from mlops_training.heartbeat import Heartbeat, no_heartbeat
from mlops_training.metrics import MetricsSink
from mlops_training.modeling import CausalLMLoss, Precision, select_precision
from mlops_training.packing import Batch, collate, epoch_order, micro_batch_rows

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"
_STATE_FILE = "state.json"
_ADAPTER_FILE = "trainable.safetensors"
_TRAINER_FILE = "trainer.pt"


class StopRequest:
    """Set by SIGTERM (Spot interruption, StopTrainingJob), the runtime limit or a test; the loop
    checkpoints at the next step boundary and raises TrainingInterrupted."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


class TrainingInterrupted(RuntimeError):
    def __init__(self, reason: str, step: int, total_steps: int, checkpoint: Path | None) -> None:
        saved = f"checkpoint {checkpoint.name} saved" if checkpoint else "no checkpoint saved"
        super().__init__(f"training stopped at step {step}/{total_steps}: {reason}; {saved}")
        self.step, self.checkpoint = step, checkpoint


class TrainingDiverged(RuntimeError):
    pass


@dataclass
class StepInfo:
    step: int
    total_steps: int
    epoch: int
    loss: float | None  # the window's mean token loss, when a logging window closed at this step


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    epoch_losses: list[float]
    final_loss: float
    runtime_seconds: float
    tokens: int
    tokens_per_second: float
    peak_gpu_memory_gb: float | None
    resumed_from_step: int
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class _Progress:
    """What a checkpoint carries besides weights, optimizer and RNG."""

    step: int = 0
    epoch_loss_sum: float = 0.0
    epoch_targets: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    tokens: int = 0
    train_seconds: float = 0.0
    mlflow_run_id: str | None = None


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class LoraTrainer:
    def __init__(
        self,
        model: Any,
        examples: Sequence[Example],
        hp: Hyperparameters,
        *,
        device: torch.device,
        loss: CausalLMLoss,
        pad_id: int,
        checkpoint_dir: Path | None = None,
        run_fingerprint: str = "",
        metrics: MetricsSink | None = None,
        heartbeat: Heartbeat = no_heartbeat,
        stop: StopRequest | None = None,
        deadline: float | None = None,
        on_step: Callable[[StepInfo], None] | None = None,
        static_shapes: bool = False,
        precision: Precision | None = None,
    ) -> None:
        self.model, self.examples, self.hp = model, examples, hp
        self.device, self.loss, self.pad_id = device, loss, pad_id
        self.checkpoint_dir, self.run_fingerprint = checkpoint_dir, run_fingerprint
        self.metrics = metrics or MetricsSink()
        self.heartbeat, self.stop = heartbeat, stop or StopRequest()
        self.deadline, self.on_step = deadline, on_step
        self.static_length = hp.max_seq_length if static_shapes else None

        self.micro_per_epoch = math.ceil(len(examples) / hp.batch_size)
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / hp.gradient_accumulation_steps)
        self.total_steps = self.steps_per_epoch * hp.epochs
        self.params = [p for p in model.parameters() if p.requires_grad]
        cuda = device.type == "cuda"
        self.optimizer = torch.optim.AdamW(
            self.params,
            lr=hp.learning_rate,
            weight_decay=hp.weight_decay,
            fused=True if cuda else None,
            foreach=None if cuda else True,
        )
        from transformers import get_scheduler

        self.scheduler = get_scheduler(
            hp.lr_scheduler if hp.lr_scheduler != "constant" else "constant_with_warmup",
            self.optimizer,
            num_warmup_steps=math.ceil(hp.warmup_ratio * self.total_steps),
            num_training_steps=self.total_steps,
        )
        self.precision = precision or select_precision(device)
        self.autocast = (
            torch.autocast(device.type, dtype=self.precision.dtype)
            if self.precision.autocast
            else contextlib.nullcontext()
        )
        # fp16: the loss is scaled up before backward and the gradients unscaled before clipping
        # and the step (a step whose gradients overflowed is skipped and the scale lowered)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.grad_scaler)
        self.progress = _Progress()
        self.resumed_from_step = 0
        self._order_cache: tuple[int, Any] | None = None
        self._epoch_loss = torch.zeros((), device=device, dtype=torch.float32)

    # --- data order -------------------------------------------------------------------------

    def micro_batches(self, step: int) -> list[list[int]]:
        """Example ids of each micro-batch of optimizer step `step` (0-based)."""
        epoch, in_epoch = divmod(step, self.steps_per_epoch)
        if self._order_cache is None or self._order_cache[0] != epoch:
            self._order_cache = (epoch, epoch_order(len(self.examples), self.hp.seed, epoch))
        order = self._order_cache[1]
        bs, ga = self.hp.batch_size, self.hp.gradient_accumulation_steps
        first = in_epoch * ga
        last = min(first + ga, self.micro_per_epoch)
        return [[int(r) for r in order[m * bs : (m + 1) * bs]] for m in range(first, last)]

    def rows(self, example_ids: Sequence[int]) -> list[list[int]]:
        """The micro-batch's rows: packed into max_seq_length rows, or one example each."""
        return micro_batch_rows(self.examples, example_ids, self.hp.max_seq_length, self.hp.packing)

    def batch(self, example_ids: Sequence[int]) -> Batch:
        return collate(self.examples, self.rows(example_ids), pad_id=self.pad_id, length=self.static_length)

    # --- checkpoints --------------------------------------------------------------------------

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().cpu().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}

    def save_checkpoint(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        step = self.progress.step
        self._flush_epoch_loss()
        final = self.checkpoint_dir / f"{CHECKPOINT_PREFIX}{step:08d}"
        if final.exists():
            return final
        tmp = self.checkpoint_dir / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(self._trainable_state(), str(tmp / _ADAPTER_FILE))
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng,
            },
            tmp / _TRAINER_FILE,
        )
        state = {
            "fingerprint": self.run_fingerprint,
            "total_steps": self.total_steps,
            **self.progress.__dict__,
        }
        # state.json last: a folder without it is incomplete and never resumed
        (tmp / _STATE_FILE).write_text(json.dumps(state, indent=1))
        tmp.rename(final)
        self._prune_checkpoints()
        log.info("checkpoint %s saved", final.name)
        return final

    def _flush_epoch_loss(self) -> None:
        self.progress.epoch_loss_sum += self._epoch_loss.item()
        self._epoch_loss.zero_()

    def _prune_checkpoints(self) -> None:
        assert self.checkpoint_dir is not None
        done = sorted(complete_checkpoints(self.checkpoint_dir))
        for old in done[: -self.hp.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    def maybe_resume(self) -> int:
        """Resume from the newest complete checkpoint of this run; returns its step (0: fresh)."""
        if self.checkpoint_dir is None:
            return 0
        for folder in reversed(sorted(complete_checkpoints(self.checkpoint_dir))):
            state = json.loads((folder / _STATE_FILE).read_text())
            if state.get("fingerprint") != self.run_fingerprint:
                log.warning("checkpoint %s belongs to another configuration: not resumed", folder.name)
                continue
            weights = load_file(str(folder / _ADAPTER_FILE))
            named = dict(self.model.named_parameters())
            with torch.no_grad():
                for name, value in weights.items():
                    named[name].copy_(value)
            trainer = torch.load(folder / _TRAINER_FILE, map_location="cpu", weights_only=True)
            self.optimizer.load_state_dict(trainer["optimizer"])
            self.scheduler.load_state_dict(trainer["scheduler"])
            if trainer.get("scaler"):
                self.scaler.load_state_dict(trainer["scaler"])
            torch.set_rng_state(trainer["rng"]["cpu"])
            if "cuda" in trainer["rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state(trainer["rng"]["cuda"], self.device)
            fields = _Progress.__dataclass_fields__
            self.progress = _Progress(**{k: v for k, v in state.items() if k in fields})
            self.resumed_from_step = self.progress.step
            log.info("resumed from %s (step %d/%d)", folder.name, self.progress.step, self.total_steps)
            return self.progress.step
        return 0

    # --- the loop -----------------------------------------------------------------------------

    def _interrupt(self, reason: str) -> TrainingInterrupted:
        saved = self.save_checkpoint()
        return TrainingInterrupted(reason, self.progress.step, self.total_steps, saved)

    def train(self) -> TrainResult:
        hp, progress = self.hp, self.progress
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        self.model.train()
        history: list[dict[str, float]] = []
        window_loss = torch.zeros((), device=self.device, dtype=torch.float32)
        window_targets = window_tokens = 0
        window_start = time.perf_counter()
        grad_norm = torch.zeros((), device=self.device)
        last_loss = float("nan")

        while progress.step < self.total_steps:
            if self.stop.reason:
                raise self._interrupt(self.stop.reason)
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise self._interrupt(f"max_runtime_seconds={hp.max_runtime_seconds} reached")
            epoch = progress.step // self.steps_per_epoch
            micro = [self.batch(ids) for ids in self.micro_batches(progress.step)]
            step_targets = sum(b.num_targets for b in micro)
            for cpu_batch in micro:
                batch = cpu_batch.to(self.device)
                with self.autocast:
                    loss_sum = self.loss(batch)
                self.scaler.scale(loss_sum / step_targets).backward()  # type: ignore[no-untyped-call]
                window_loss += loss_sum.detach()
                self._epoch_loss += loss_sum.detach()
            step_tokens = sum(b.num_tokens for b in micro)
            window_tokens += step_tokens
            window_targets += step_targets
            progress.epoch_targets += step_targets
            step_lr = self.scheduler.get_last_lr()[0]  # what this step uses; step() moves to the next
            if hp.max_grad_norm > 0:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients (no-op without fp16)
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, hp.max_grad_norm, foreach=True)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            progress.step += 1
            progress.tokens += step_tokens

            end_of_epoch = progress.step % self.steps_per_epoch == 0
            logged: float | None = None
            if progress.step % hp.logging_steps == 0 or end_of_epoch or progress.step == self.total_steps:
                mean = window_loss.item() / max(window_targets, 1)  # the one host sync of a window
                if not math.isfinite(mean):
                    raise TrainingDiverged(f"the loss became {mean} at step {progress.step}")
                elapsed = time.perf_counter() - window_start
                progress.train_seconds += elapsed
                values = {
                    "epoch": progress.step / self.steps_per_epoch,
                    "train_loss": mean,
                    "learning_rate": step_lr,
                    "grad_norm": float(grad_norm),
                    "tokens_per_second": window_tokens / max(elapsed, 1e-9),
                }
                if cuda:
                    values["gpu_memory_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
                self.metrics.log(progress.step, values)
                history.append({"step": progress.step, **values})
                logged = last_loss = mean
                window_loss.zero_()
                window_targets = window_tokens = 0
                window_start = time.perf_counter()
            if end_of_epoch:
                self._flush_epoch_loss()
                progress.epoch_losses.append(progress.epoch_loss_sum / max(progress.epoch_targets, 1))
                progress.epoch_loss_sum, progress.epoch_targets = 0.0, 0
            self.heartbeat()
            if self.on_step is not None:
                self.on_step(StepInfo(progress.step, self.total_steps, epoch, logged))
            if (
                hp.checkpoint_steps
                and progress.step % hp.checkpoint_steps == 0
                and progress.step < self.total_steps
            ):
                self.save_checkpoint()

        peak = torch.cuda.max_memory_allocated(self.device) / 2**30 if cuda else None
        return TrainResult(
            steps=progress.step,
            total_steps=self.total_steps,
            epoch_losses=list(progress.epoch_losses),
            final_loss=last_loss,
            runtime_seconds=progress.train_seconds,
            tokens=progress.tokens,
            tokens_per_second=progress.tokens / max(progress.train_seconds, 1e-9),
            peak_gpu_memory_gb=peak,
            resumed_from_step=self.resumed_from_step,
            history=history,
        )


def complete_checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / _STATE_FILE).exists()
    ]
