"""Training checkpoints: safetensors for every tensor, JSON for everything else, no pickle anywhere.

Layout under a run's ``out_dir``::

    checkpoints/
      latest                   text file naming the last complete checkpoint, e.g. "step_0000200"
      step_0000200/
        model.safetensors      the bare module's state_dict (no DDP "module." prefix); loads without the Trainer
        ema.safetensors        the EMA weights, when EMA is on
        optimizer.safetensors  AdamW moments, keys "state.{param_index}.{name}" (e.g. "state.3.exp_avg")
        rng.safetensors        generator states of every process, keys "rank{r}.torch", "rank{r}.cuda{i}" (uint8)
        trainer_state.json     step, epoch, position in the epoch, config, learning rate, optimizer scalars and
                               param_groups, Python/numpy generator states, timestamps
        SHA256SUMS             the sha256 of every other file, as ``sha256sum`` writes it (``sha256sum -c``)

A checkpoint is written into a hidden temporary folder which is renamed onto its final name only when complete,
and ``latest`` is rewritten (atomically) after that: a crash mid-write leaves the previous checkpoint in charge.
`resume_checkpoint` verifies the sums before trusting a checkpoint, and falls back to the newest intact one (with a
warning naming the damaged one) when a disk error or a stray edit damaged the latest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from brainfm_lite.atomic import atomic_dir, atomic_path, write_json
from brainfm_lite.errors import InputError
from brainfm_lite.train.ema import EMA

LATEST = "latest"
SUMS = "SHA256SUMS"
FORMAT_VERSION = 2  # 2: SHA256SUMS in every checkpoint
CHECKPOINT_NAME = re.compile(r"step_(\d{7,})")


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after optimizer step `step`, e.g. ``step_0000200``."""
    return f"step_{step:07d}"


def save_checkpoint(checkpoints_dir: Path, step: int, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: EMA | None, state: dict, rng_states: list[dict]) -> Path:
    """Write the checkpoint of step `step` atomically and point ``latest`` at it; returns its folder.

    Args:
        checkpoints_dir: the ``checkpoints`` folder of a run (created when missing).
        step: optimizer steps taken.
        model: the bare module (not the DDP wrapper).
        optimizer: its optimizer.
        ema: the weight average, or None.
        state: JSON-serialisable trainer state (step, epoch, position, config ...).
        rng_states: one :func:`~brainfm_lite.train.rng.get_rng_state` per process, in rank order.
    """
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoints_dir / checkpoint_name(step)
    with atomic_dir(final) as tmp:  # a re-run of the same step replaces its folder
        save_model(model, str(tmp / "model.safetensors"))
        if ema is not None:
            save_file(_contiguous(ema.state_dict()), str(tmp / "ema.safetensors"))
        optimizer_tensors, optimizer_json = _flatten_optimizer(optimizer)
        save_file(optimizer_tensors, str(tmp / "optimizer.safetensors"))
        rng_tensors, rng_json = _flatten_rng(rng_states)
        save_file(rng_tensors, str(tmp / "rng.safetensors"))
        saved_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_json(tmp / "trainer_state.json", {**state, "format_version": FORMAT_VERSION, "saved_at": saved_at,
                                                "torch_version": torch.__version__, "optimizer": optimizer_json,
                                                "rng": rng_json})
        (tmp / SUMS).write_text("".join(f"{_sha256(path)}  {path.name}\n" for path in sorted(tmp.iterdir())))
    with atomic_path(checkpoints_dir / LATEST) as pointer:
        pointer.write_text(final.name + "\n")
    return final


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The checkpoint folder that ``latest`` names, or None when there is none yet.

    Raises:
        InputError: ``latest`` names something outside `checkpoints_dir`, or not a complete checkpoint.
    """
    folder, damaged = _pointed_folder(checkpoints_dir)
    if damaged or (folder is not None and not (folder / "trainer_state.json").is_file()):
        name = folder.name if folder is not None else "nothing readable"
        raise InputError(f"{checkpoints_dir / LATEST} names {name}, which is not a complete checkpoint")
    return folder


def resume_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest intact checkpoint to resume from: the one ``latest`` names when its files match their sums, else
    the newest older one that does (a warning names each damaged one). None when there is no checkpoint yet.

    Raises:
        InputError: ``latest`` names something outside `checkpoints_dir`, or every checkpoint is damaged.
    """
    checkpoints_dir = Path(checkpoints_dir)
    pointed, damaged_pointer = _pointed_folder(checkpoints_dir)
    if pointed is None and not damaged_pointer:
        return None
    candidates = [] if pointed is None else [pointed]
    if damaged_pointer:
        warnings.warn(f"{checkpoints_dir / LATEST}: damaged (it names no checkpoint); looking for the newest intact "
                      "checkpoint", stacklevel=2)
    newest = None if pointed is None else _step(pointed)
    candidates += sorted((path for path in checkpoints_dir.iterdir() if path.is_dir() and _step(path) is not None
                          and (newest is None or _step(path) < newest)), key=_step, reverse=True)
    damaged = []
    for folder in candidates:
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        damaged.append(folder.name)
        warnings.warn(f"{folder}: damaged checkpoint ({problem}); falling back to an older one", stacklevel=2)
    raise InputError(f"{checkpoints_dir}: no intact checkpoint to resume from (damaged: {', '.join(damaged) or 'none'}"
                     "); move the folder away to start the run over")


def checkpoint_problem(folder: Path) -> str | None:
    """What is wrong with the checkpoint `folder`, in words, or None when every file matches its recorded sha256.

    A checkpoint written before sums were recorded (format 1) is only checked for its files.
    """
    folder = Path(folder)
    if not (folder / "trainer_state.json").is_file():
        return "no trainer_state.json" if folder.is_dir() else "missing"
    sums = folder / SUMS
    if not sums.is_file():
        try:
            version = json.loads((folder / "trainer_state.json").read_text()).get("format_version", 1)
        except (ValueError, OSError, AttributeError):
            return "trainer_state.json is not readable JSON"
        if version >= 2:
            return f"no {SUMS}"
        missing = [name for name in ("model.safetensors", "optimizer.safetensors", "rng.safetensors")
                   if not (folder / name).is_file()]
        return f"missing {', '.join(missing)}" if missing else None
    try:
        recorded = dict(reversed(line.split("  ", 1)) for line in sums.read_text().splitlines() if line)
    except (ValueError, OSError, UnicodeDecodeError):
        return f"{SUMS} is not readable"
    for name, digest in sorted(recorded.items()):
        path = folder / name
        if "/" in name or not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != digest:
            return f"{name} does not match its sha256"
    if "trainer_state.json" not in recorded or "model.safetensors" not in recorded:
        return f"{SUMS} does not cover trainer_state.json and model.safetensors"
    return None


def _pointed_folder(checkpoints_dir: Path) -> tuple[Path | None, bool]:
    """(the folder ``latest`` names, whether ``latest`` is damaged): (None, False) without ``latest``; a name that
    is no checkpoint name (garbage after a crash) is damaged. A name leading outside `checkpoints_dir` (a path,
    "..", a link elsewhere) is refused."""
    pointer = checkpoints_dir / LATEST
    if not pointer.is_file():
        return None, False
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        return None, True
    folder = checkpoints_dir / name
    if name and (Path(name).name != name or folder.resolve().parent != checkpoints_dir.resolve()):
        raise InputError(f"{pointer}: names {name!r}, outside {checkpoints_dir}; refusing to load a checkpoint from "
                         "elsewhere")
    if not CHECKPOINT_NAME.fullmatch(name):
        return None, True
    return folder, False


def _step(folder: Path) -> int | None:
    match = CHECKPOINT_NAME.fullmatch(folder.name)
    return int(match.group(1)) if match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(folder: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None,
                    device: torch.device, verify: bool = True) -> dict:
    """Load weights, EMA and optimizer state from `folder` into the given objects; returns the trainer state.

    With `verify` (default) every file is checked against its recorded sha256 first (`checkpoint_problem`);
    pass False only for a folder `resume_checkpoint` has just verified.

    The returned dict is ``trainer_state.json`` with ``"rng"`` replaced by the list of per-process generator
    states (tensors included) that :func:`~brainfm_lite.train.rng.set_rng_state` takes.

    Raises:
        InputError: the folder is not a checkpoint, a file does not match its recorded sha256, or its tensors do
            not fit the model.
    """
    state_path = folder / "trainer_state.json"
    if not state_path.is_file():
        raise InputError(f"{folder}: not a checkpoint (no trainer_state.json)")
    problem = checkpoint_problem(folder) if verify else None
    if problem is not None:
        raise InputError(f"{folder}: damaged checkpoint ({problem})")
    state = json.loads(state_path.read_text())
    try:
        load_model(model, str(folder / "model.safetensors"), strict=True, device=str(device))
    except (RuntimeError, OSError) as err:
        raise InputError(f"{folder / 'model.safetensors'}: does not fit the model ({err})") from err
    if ema is not None:
        ema_path = folder / "ema.safetensors"
        if not ema_path.is_file():
            raise InputError(f"{folder}: EMA is on but the checkpoint has no ema.safetensors")
        ema.load_state_dict(load_file(str(ema_path), device=str(device)))
    _load_optimizer(optimizer, load_file(str(folder / "optimizer.safetensors")), state["optimizer"])
    state["rng"] = _unflatten_rng(load_file(str(folder / "rng.safetensors")), state["rng"])
    return state


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().contiguous() for name, tensor in tensors.items()}


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``state.{param_index}.{name}``) and JSON (the rest)."""
    saved = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in saved["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": saved["param_groups"], "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict) -> None:
    """Inverse of :func:`_flatten_optimizer`; torch moves the moments to each parameter's device and dtype."""
    state: dict[int, dict] = {}
    for key, tensor in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in saved["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    current_groups = optimizer.state_dict()["param_groups"]
    if len(saved["param_groups"]) != len(current_groups):
        raise InputError(f"checkpoint has {len(saved['param_groups'])} parameter groups, the optimizer "
                         f"{len(current_groups)}")
    # JSON turned tuples (AdamW's betas) into lists; give them back the type the optimizer was built with.
    groups = [{key: tuple(value) if isinstance(current.get(key), tuple) else value for key, value in group.items()}
              for group, current in zip(saved["param_groups"], current_groups)]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as err:
        raise InputError(f"optimizer state does not fit the optimizer ({err})") from err


def _flatten_rng(rng_states: list[dict]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Generator states of every process: uint8 tensors for safetensors, the Python/numpy parts for JSON."""
    tensors, json_states = {}, []
    for rank, rng in enumerate(rng_states):
        tensors[f"rank{rank}.torch"] = rng["torch"].contiguous()
        for device, cuda_state in enumerate(rng["cuda"]):
            tensors[f"rank{rank}.cuda{device}"] = cuda_state.contiguous()
        json_states.append({"python": rng["python"], "numpy": rng["numpy"], "n_cuda": len(rng["cuda"])})
    return tensors, json_states


def _unflatten_rng(tensors: dict[str, torch.Tensor], json_states: list[dict]) -> list[dict]:
    """Inverse of :func:`_flatten_rng`."""
    return [{"torch": tensors[f"rank{rank}.torch"],
             "cuda": [tensors[f"rank{rank}.cuda{device}"] for device in range(rng["n_cuda"])],
             "python": rng["python"], "numpy": rng["numpy"]}
            for rank, rng in enumerate(json_states)]
