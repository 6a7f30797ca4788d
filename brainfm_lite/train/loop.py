"""One Trainer for every objective (MAE, SimCLR, sequence-invariant contrastive, DDPM), in plain PyTorch.

An *objective* is any ``nn.Module`` whose ``forward(batch)`` returns a dict with a scalar tensor ``"loss"`` and,
optionally, other scalars to log. The Trainer never knows which one it runs::

    trainer = Trainer(objective, dataset, TrainConfig(max_steps=1000, batch_size=8), out_dir="runs/mae")
    result = trainer.fit()             # after an interruption: trainer.fit(resume=True)

The same script trains on a laptop CPU (``python train.py``) and on several GPUs or nodes
(``torchrun --nproc_per_node 4 train.py``): under torchrun every process runs it, the model is wrapped in
DistributedDataParallel, each process reads its own share of every global batch, and only rank 0 prints, logs
and saves. Across nodes, ``out_dir`` must be on a filesystem that every node sees (all processes read a checkpoint
when resuming).

Reproducibility: the data order depends on (seed, epoch) only, every random generator is saved in each checkpoint,
and a run stopped after step k and resumed ends with the same weights as an uninterrupted one (bitwise on a CPU;
on a GPU as far as its kernels are deterministic). Randomness inside DataLoader *workers* (num_workers > 0) is
reproducible per epoch but restarts at a mid-epoch resume; with num_workers=0 it is exact too.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from brainfm_lite.errors import BrainFMError, InputError
from brainfm_lite.provenance import device_name
from brainfm_lite.train import distributed as dist
from brainfm_lite.train.checkpoint import LATEST, checkpoint_name, load_checkpoint, resume_checkpoint, save_checkpoint
from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.ema import EMA
from brainfm_lite.train.metrics_log import MetricsLog
from brainfm_lite.train.optim import build_optimizer, set_learning_rate
from brainfm_lite.train.rng import get_rng_state, seed_everything, set_rng_state

logger = logging.getLogger(__name__)

# Names the Trainer writes in every metrics line; an objective's own metrics must use others.
RESERVED_METRICS = ("step", "epoch", "lr", "grad_norm", "seconds", "samples_per_s")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes:
        step: optimizer steps taken in total (``config.max_steps`` after a complete run).
        last_loss: the loss of the last metrics line (mean over its logging interval and all processes).
        history: the metrics lines of the run, one dict per logged step (on rank 0 including those written before
            a resume).
        checkpoint: folder of the final checkpoint (its ``model.safetensors`` holds the trained weights).
    """

    step: int
    last_loss: float | None
    history: list[dict]
    checkpoint: Path


class Trainer:
    """Train `model` (an objective) on `dataset` with AdamW, warm-up + cosine schedule, and checkpoints.

    Args:
        model: the objective; ``forward(batch)`` returns ``{"loss": scalar tensor, **other scalars}``.
        dataset: a map-style dataset (``__len__``, ``__getitem__``); the Trainer owns the DataLoader and its order.
        config: optimisation and bookkeeping settings.
        out_dir: where ``metrics.jsonl`` and ``checkpoints/`` go.
        collate_fn: DataLoader collate function (default: torch's, stacking tensors and dicts of tensors).
        param_groups: AdamW parameter groups (e.g. a smaller ``lr`` for a pretrained backbone); default: weight
            decay on weight matrices only.

    Every ``log_every`` steps a line goes to ``out_dir/metrics.jsonl``: ``step``, ``epoch``, ``loss`` and the
    objective's other metrics (means over the steps since the previous line and over all processes), ``lr`` (of
    the logged step), ``grad_norm`` (before clipping, mean over the interval), ``seconds`` (training wall time
    since the start of the run, resumed runs included) and ``samples_per_s`` (over the interval, all processes).
    An objective must return the same metric names at every step.

    After :meth:`fit`, `model` holds the trained weights and ``trainer.ema`` (when on) the averaged ones.
    """

    def __init__(self, model: nn.Module, dataset: Dataset, config: TrainConfig, *, out_dir: str | Path,
                 collate_fn=None, param_groups: list[dict] | None = None):
        if not hasattr(dataset, "__len__"):
            raise InputError("the Trainer needs a map-style dataset with __len__ and __getitem__ (it controls the "
                             f"order for resuming and DDP); got {type(dataset).__name__}")
        self.device = dist.join(config.device)
        self.config = config
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.out_dir = Path(out_dir)
        self.checkpoints_dir = self.out_dir / "checkpoints"
        self.rank, self.world_size = dist.rank(), dist.world_size()
        self.batches_per_epoch = len(dataset) // self.world_size // config.batch_size
        if self.batches_per_epoch == 0:
            raise InputError(f"a dataset of {len(dataset)} samples gives no full batch of {config.batch_size} to each "
                             f"of {self.world_size} process(es); lower batch_size")
        self.global_batch = config.batch_size * config.grad_accum_steps * self.world_size

        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, config, param_groups)
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay is not None else None
        # DDP averages gradients across processes during backward; `self.model` stays the bare module we save.
        self.wrapped = self.model
        if self.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=device_ids)
        self.use_bf16 = config.precision == "bf16" and _has_fast_bf16(self.device, allow_cpu=config.cpu_bf16)
        self.metrics = MetricsLog(self.out_dir / "metrics.jsonl", enabled=dist.is_main())

        # Where the run stands; saved in every checkpoint.
        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0  # micro-batches of the current epoch already consumed by this process
        self.elapsed_s = 0.0  # training wall time before this fit() call (from earlier, resumed runs)
        self.resumed_from: Path | None = None
        self._resumed_window: dict | None = None  # the metrics interval the checkpoint was saved in
        self._fit_started = time.perf_counter()

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool | str | Path = False) -> TrainResult:
        """Train until ``config.max_steps``.

        Args:
            resume: False: start from scratch (seeding every generator). True: continue from the checkpoint that
                ``out_dir/checkpoints/latest`` names, or start from scratch when there is none. A path: continue
                from that checkpoint folder.
        """
        cfg = self.config
        history = self._start_fresh() if resume is False else self._resume(resume)
        self._print_summary()
        checkpoint = self.resumed_from  # replaced by each checkpoint saved below
        self.model.train()
        self._fit_started = time.perf_counter()
        window = _RunningMeans(self._resumed_window, device=self.device)  # a resumed line covers the same steps
        batches = self._micro_batches()
        progress = tqdm(total=cfg.max_steps, initial=self.step, desc="train", dynamic_ncols=True,
                        disable=not (cfg.progress and dist.is_main()))
        try:
            while self.step < cfg.max_steps:
                lr = set_learning_rate(self.optimizer, self.step, cfg)
                window.add(self._optimizer_step(batches))
                self.step += 1
                progress.update()
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    record = self._log(window, lr)
                    history.append(record)
                    progress.set_postfix(loss=f"{record['loss']:.4g}")
                    window = _RunningMeans()
                if self.step == cfg.max_steps or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    checkpoint = self._save(window)
        finally:
            batches.close()  # stops DataLoader workers of an unfinished epoch
            progress.close()
        last_loss = history[-1]["loss"] if history else None
        return TrainResult(step=self.step, last_loss=last_loss, history=history, checkpoint=checkpoint)

    def _optimizer_step(self, batches) -> dict[str, torch.Tensor]:
        """Forward and backward over ``grad_accum_steps`` micro-batches, then clip, step and update the EMA.

        Returns the step's loss and objective metrics (means over micro-batches) and its gradient norm.
        """
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        for micro_step in range(cfg.grad_accum_steps):
            batch = _to_device(next(batches), self.device)
            # DDP all-reduces gradients in backward; only the last micro-batch of a step needs to.
            last = micro_step == cfg.grad_accum_steps - 1
            with nullcontext() if last or self.world_size == 1 else self.wrapped.no_sync():
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                    outputs = self.wrapped(batch)
                _check_outputs(outputs)
                (outputs["loss"] / cfg.grad_accum_steps).backward()
            for name, value in outputs.items():
                sums[name] = sums.get(name, 0.0) + _as_scalar(value, self.device)
        # With no clipping an infinite limit only measures the norm (multiplying by 1 changes no bit).
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm or math.inf)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model, step=self.step)  # the decay warms up from the run's first step
        values = {name: total / cfg.grad_accum_steps for name, total in sums.items()}
        values["grad_norm"] = grad_norm.detach().float()
        return values

    # ------------------------------------------------------------------ data

    def _micro_batches(self):
        """Yield micro-batches forever, epoch after epoch, keeping ``epoch`` and ``batches_in_epoch`` current."""
        while True:
            for batch in self._epoch_loader(self.epoch, skip_batches=self.batches_in_epoch):
                self.batches_in_epoch += 1
                yield batch
            self.epoch += 1
            self.batches_in_epoch = 0

    def _epoch_loader(self, epoch: int, skip_batches: int) -> DataLoader:
        """This process's batches of `epoch`, without the first `skip_batches` (consumed before a resume).

        The order is a permutation seeded by (seed, epoch), dealt out to the processes as DistributedSampler does,
        also for a single process: one process with batch 2B sees the same global batches as two with batch B.
        Skipped batches are dropped as indices, so they are never loaded.
        """
        cfg = self.config
        sampler = DistributedSampler(self.dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
        indices = list(sampler)[skip_batches * cfg.batch_size:]
        # The loader's own generator (not the global one) seeds its workers, so creating a loader mid-run (at a
        # resume) draws nothing from the generators the objective uses.
        seed = int(np.random.SeedSequence([cfg.seed, epoch, self.rank]).generate_state(1)[0])
        return DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=indices, drop_last=True,
                          collate_fn=self.collate_fn, num_workers=cfg.num_workers,
                          pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(seed))

    # ------------------------------------------------------------------ start, resume, log, save

    def _start_fresh(self) -> list[dict]:
        """Seed every generator (differently on each process) and start an empty metrics file."""
        if dist.is_main() and (self.checkpoints_dir / LATEST).is_file():
            print(f"note: {self.checkpoints_dir} holds checkpoints of an earlier run; starting from scratch "
                  "(fit(resume=True) continues it)")
        seed_everything(self.config.seed + self.rank)
        self.step, self.epoch, self.batches_in_epoch, self.elapsed_s = 0, 0, 0, 0.0
        self.resumed_from, self._resumed_window = None, None
        return self.metrics.start(resumed_step=None)

    def _resume(self, resume: bool | str | Path) -> list[dict]:
        """Restore weights, optimizer, EMA, position in the data and every generator from a checkpoint (with
        ``resume=True`` the newest intact one: a damaged checkpoint is skipped with a warning)."""
        folder = resume_checkpoint(self.checkpoints_dir) if resume is True else Path(resume)
        if folder is None:
            if dist.is_main():
                print(f"note: no checkpoint in {self.checkpoints_dir}; starting from scratch")
            return self._start_fresh()
        state = load_checkpoint(folder, model=self.model, optimizer=self.optimizer, ema=self.ema,
                                device=self.device, verify=resume is not True)  # resume_checkpoint verified it
        saved = TrainConfig.from_dict(state["config"])
        same_order = (state["world_size"], saved.batch_size, saved.grad_accum_steps, saved.seed) == \
                     (self.world_size, self.config.batch_size, self.config.grad_accum_steps, self.config.seed)
        if not same_order:
            raise InputError(f"{folder}: saved with world size {state['world_size']}, batch_size {saved.batch_size}, "
                             f"grad_accum_steps {saved.grad_accum_steps}, seed {saved.seed}; resume with the same "
                             "values (they define the data order)")
        self.step, self.epoch = state["step"], state["epoch"]
        self.batches_in_epoch, self.elapsed_s = state["batches_in_epoch"], state["elapsed_seconds"]
        set_rng_state(state["rng"][self.rank])
        windows = state.get("metrics_window")  # absent in checkpoints of older versions: the line starts afresh
        self._resumed_window = windows[self.rank] if windows else None
        self.resumed_from = folder
        return self.metrics.start(resumed_step=self.step)

    def _log(self, window: "_RunningMeans", lr: float) -> dict:
        """Average the interval's values over steps and processes and write one metrics line (rank 0)."""
        means = window.means()  # a collective call: every process takes part
        seconds = window.seconds()
        record = {"step": self.step, "epoch": self.epoch, "loss": means.pop("loss"), "lr": lr,
                  "grad_norm": means.pop("grad_norm"), "seconds": round(self._elapsed(), 3),
                  "samples_per_s": round(window.timed_steps * self.global_batch / seconds, 3), **means}
        self.metrics.write(record)
        if not math.isfinite(record["loss"]):
            raise BrainFMError(f"the loss is {record['loss']} at step {self.step}; lower the learning rate or check "
                               f"the data (metrics in {self.metrics.path})")
        return record

    def _save(self, window: "_RunningMeans") -> Path:
        """Save a checkpoint (rank 0) holding every process's generator states and the sums of the metrics
        interval in progress (so that the first line after a resume averages the same steps); all processes wait
        for it."""
        rng_states = dist.all_gather_objects(get_rng_state())
        windows = dist.all_gather_objects(window.state())
        folder = self.checkpoints_dir / checkpoint_name(self.step)
        if dist.is_main():
            state = {"step": self.step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch,
                     "elapsed_seconds": self._elapsed(), "world_size": self.world_size, "metrics_window": windows,
                     "config": self.config.to_dict(),
                     "scheduler": {"kind": "linear warm-up, cosine decay",
                                   "lr": [group["lr"] for group in self.optimizer.param_groups]}}
            save_checkpoint(self.checkpoints_dir, self.step, model=self.model, optimizer=self.optimizer,
                            ema=self.ema, state=state, rng_states=rng_states)
        dist.barrier()  # nobody goes on (or returns the path) before the checkpoint is complete
        return folder

    def _elapsed(self) -> float:
        """Training wall time in seconds, summed over this run and the ones it resumed."""
        return self.elapsed_s + time.perf_counter() - self._fit_started

    def _print_summary(self) -> None:
        if not dist.is_main():
            return
        cfg = self.config
        n_params = sum(p.numel() for p in self.model.parameters())
        precision = "bf16 autocast" if self.use_bf16 else "fp32"
        if cfg.precision == "bf16" and not self.use_bf16:
            precision += (" (bf16 asked for; it needs a CUDA GPU of compute capability 8 or more (A100, H100 ...), or "
                          "cpu_bf16 and a CPU with AMX-BF16)")
        start = f"resumed from {self.resumed_from}" if self.resumed_from else "from scratch"
        summary = (f"Trainer: {n_params:,} parameters | {device_name(self.device)} | world size {self.world_size} | "
                   f"global batch {self.global_batch} ({cfg.batch_size} x {cfg.grad_accum_steps} accumulation x "
                   f"{self.world_size} process{'es' if self.world_size > 1 else ''}) | {precision} | "
                   f"steps {self.step} -> {cfg.max_steps}, {start}")
        if cfg.progress:  # a watched run (progress bar on): print
            print(summary)
        else:  # the book's pages, scripts, tests: log at INFO. Falling back from bf16 to fp32 on a CPU is the
            # expected path, not a problem: a WARNING would reach stderr (logging's last resort) and every page.
            logger.info(summary)


class _RunningMeans:
    """Per-step values summed since the last metrics line, averaged over steps and processes when logged.

    Args:
        saved: `state` of the interval a checkpoint was saved in, to continue it after a resume; None: empty.
        device: where the restored sums go.
    """

    def __init__(self, saved: dict | None = None, *, device: torch.device | None = None):
        # float32 sums restored exactly (a float32 goes through a JSON float unchanged): the same bits as unbroken
        self.sums: dict[str, torch.Tensor] = {
            name: torch.tensor(value, dtype=torch.float32, device=device)
            for name, value in (saved or {}).get("sums", {}).items()}
        self.steps = (saved or {}).get("steps", 0)
        self.timed_steps = 0  # steps since this process started the interval: the throughput's
        self.started = time.perf_counter()

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.steps += 1
        self.timed_steps += 1

    def state(self) -> dict:
        """The sums and step count, JSON-ready (for a checkpoint)."""
        return {"steps": self.steps, "sums": {name: float(total) for name, total in self.sums.items()}}

    def means(self) -> dict[str, float]:
        names = sorted(self.sums)
        stacked = torch.stack([self.sums[name] for name in names]) / self.steps
        return dict(zip(names, dist.all_reduce_mean(stacked).tolist()))

    def seconds(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)


def _has_fast_bf16(device: torch.device, allow_cpu: bool = False) -> bool:
    """bfloat16 autocast pays off on CUDA GPUs from Ampere on (older ones, a Colab T4, only emulate it), and, when
    `allow_cpu`, on CPUs with AMX-BF16 tiles (for some networks only; see `TrainConfig.cpu_bf16`)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    return allow_cpu and device.type == "cpu" and _cpu_has_amx_bf16()


@functools.lru_cache(maxsize=1)
def _cpu_has_amx_bf16() -> bool:
    """True when the CPU advertises AMX-BF16 (Linux ``/proc/cpuinfo`` flags); elsewhere False: CPU autocast without
    AMX is slower than fp32."""
    try:
        with open("/proc/cpuinfo") as handle:
            return any(line.startswith("flags") and " amx_bf16" in line for line in handle)
    except OSError:
        return False


def _check_outputs(outputs) -> None:
    """The objective contract: a dict with a scalar tensor "loss" and no metric named like the Trainer's own."""
    if not isinstance(outputs, dict) or not torch.is_tensor(outputs.get("loss")) or outputs["loss"].ndim != 0:
        raise InputError("an objective's forward(batch) must return a dict with a scalar tensor 'loss'; got "
                         f"{type(outputs).__name__} {list(outputs) if isinstance(outputs, dict) else ''}")
    clashing = sorted(set(outputs) & set(RESERVED_METRICS))
    if clashing:
        raise InputError(f"the objective returns metrics named {clashing}, which the Trainer writes itself")


def _as_scalar(value, device: torch.device) -> torch.Tensor:
    """A logged value as a detached float32 scalar tensor on `device` (kept there: no GPU sync per step)."""
    if torch.is_tensor(value):
        return value.detach().float().reshape(())
    return torch.tensor(float(value), device=device)


def _to_device(batch, device: torch.device):
    """Move tensors, also inside dicts, lists and tuples, to `device`; other values are left as they are."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(value, device) for value in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)  # namedtuple or not
    return batch
