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

A checkpoint is written into a hidden temporary folder which is renamed onto its final name only when complete,
and ``latest`` is rewritten (atomically) after that: a crash mid-write leaves the previous checkpoint in charge.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from brainfm_lite.atomic import atomic_dir, atomic_path, write_json
from brainfm_lite.errors import InputError
from brainfm_lite.train.ema import EMA

LATEST = "latest"
FORMAT_VERSION = 1


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
    with atomic_path(checkpoints_dir / LATEST) as pointer:
        pointer.write_text(final.name + "\n")
    return final


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The checkpoint folder that ``latest`` names, or None when there is none yet."""
    pointer = checkpoints_dir / LATEST
    if not pointer.is_file():
        return None
    folder = checkpoints_dir / pointer.read_text().strip()
    if not (folder / "trainer_state.json").is_file():
        raise InputError(f"{pointer} names {folder.name}, which is not a complete checkpoint")
    return folder


def load_checkpoint(folder: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None,
                    device: torch.device) -> dict:
    """Load weights, EMA and optimizer state from `folder` into the given objects; returns the trainer state.

    The returned dict is ``trainer_state.json`` with ``"rng"`` replaced by the list of per-process generator
    states (tensors included) that :func:`~brainfm_lite.train.rng.set_rng_state` takes.

    Raises:
        InputError: the folder is not a checkpoint, or its tensors do not fit the model.
    """
    state_path = folder / "trainer_state.json"
    if not state_path.is_file():
        raise InputError(f"{folder}: not a checkpoint (no trainer_state.json)")
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
