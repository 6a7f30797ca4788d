"""Export trained weights for shipping: float16 safetensors + config.json + a README.md model card, within a size
budget.

The book ships reference weights under ``book/results/reference/weights/<name>/``; each file must stay under
`MAX_FILE_MB` and all of them together under `MAX_TOTAL_MB` (1 MB = 10^6 bytes), so that the repository stays
small enough to clone. An exported folder has the layout of `save_pretrained`::

    name/model.safetensors    floating tensors as float16, integer buffers unchanged
    name/config.json          as saved, plus "dtype": "float16" and "model_card": {...}
    name/README.md            the model card (`ModelCard.to_markdown`)

and loads with `from_pretrained`, which casts the weights back to float32.

Example:
    >>> export_weights("runs/mae/encoder", "weights/mae-cbf-tiny",                # doctest: +SKIP
    ...                card={"name": "mae-cbf-tiny", "objective": "mae", "profile": "reference", "steps": 2000})
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file

from brainfm_lite.atomic import atomic_dir, write_json
from brainfm_lite.errors import InputError
from brainfm_lite.models.hub import CONFIG_NAME, WEIGHTS_NAME, load_weights, model_from_config, read_checkpoint
from brainfm_lite.models.model_card import ModelCard

README_NAME = "README.md"
MAX_FILE_MB = 20
MAX_TOTAL_MB = 80
MB = 1_000_000


def export_weights(source_dir: str | Path, dest_dir: str | Path, *, card: ModelCard | dict,
                   dtype: torch.dtype = torch.float16, max_file_mb: float = MAX_FILE_MB,
                   budget_root: str | Path | None = None, max_total_mb: float = MAX_TOTAL_MB) -> Path:
    """Write the model saved in `source_dir` to `dest_dir` with its floating weights cast to `dtype`, atomically.

    The weights are checked to fit the model their config describes before anything is written, and every file
    is checked against the size limits before the folder appears: a refused export leaves `dest_dir` as it was.

    Args:
        source_dir: a folder written by `save_pretrained` (model.safetensors + config.json).
        dest_dir: the folder to write (a previous export there is replaced; any other existing folder is refused).
        card: the `ModelCard` (or a dict of its fields); its model_class, parameters and dtype are filled in.
        dtype: a floating dtype for the floating tensors (float16 by default); integer buffers keep theirs.
        max_file_mb: largest allowed file, in MB (10^6 bytes).
        budget_root: the folder holding every shipped weights folder (the results command passes
            ``book/results/reference/weights``); the export is refused when the files under it, with this export
            in place of any previous one at `dest_dir`, would exceed `max_total_mb`. None skips this check.
        max_total_mb: the largest allowed total under `budget_root`, in MB.

    Returns:
        `dest_dir`.

    Raises:
        InputError: an unreadable source, weights that do not fit their config, values beyond `dtype`'s range,
            a file over `max_file_mb` (named, with its size), or a total over `max_total_mb`.
    """
    source_dir, dest_dir = Path(source_dir), Path(dest_dir)
    card = card if isinstance(card, ModelCard) else ModelCard.from_dict(card)
    if not dtype.is_floating_point:
        raise InputError(f"export_weights: dtype must be a floating dtype, got {dtype}")
    if dest_dir.exists() and not (dest_dir / CONFIG_NAME).is_file():
        raise InputError(f"{dest_dir}: exists and is not a saved model; refusing to overwrite it")

    model = model_from_config(source_dir)
    tensors = cast_floating(read_checkpoint(source_dir), dtype, label=str(source_dir / WEIGHTS_NAME))
    load_weights(model, tensors, strict=True)  # the export must load into the model its config describes
    dtype_name = str(dtype).removeprefix("torch.")
    config = json.loads((source_dir / CONFIG_NAME).read_text())
    recorded = (config.get("metadata") or {}).get("preprocessing") or {}  # the pretrainer's recipe, if any
    card = replace(card, model_class=config["class"], parameters=sum(p.numel() for p in model.parameters()),
                   dtype=dtype_name, preprocessing=card.preprocessing or recorded)
    config.update(dtype=dtype_name, model_card=card.to_dict(),
                  exported=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(dest_dir) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"class": config["class"], "dtype": dtype_name})
        write_json(tmp / CONFIG_NAME, config)
        (tmp / README_NAME).write_text(card.to_markdown())
        sizes = _file_sizes(tmp)
        for path, size in sizes.items():
            if size > max_file_mb * MB:
                raise InputError(f"{dest_dir / path.relative_to(tmp)}: {size / MB:.1f} MB, over the {max_file_mb} MB "
                                 "limit of one shipped file; train a smaller preset or export fewer tensors")
        if budget_root is not None:
            _check_total(Path(budget_root), dest_dir, tmp, sum(sizes.values()), max_total_mb)
    return dest_dir


def cast_floating(state, dtype: torch.dtype, *, label: str = "<state dict>") -> dict[str, torch.Tensor]:
    """The tensors of `state` with floating ones cast to `dtype` (contiguous, on the CPU); others unchanged.

    Raises:
        InputError: a finite value that becomes infinite at `dtype` (beyond float16's 65504, say), naming the key.
    """
    cast = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            lower = value.to(dtype)
            if (~torch.isfinite(lower)).sum() > (~torch.isfinite(value)).sum():
                raise InputError(f"{label}: {key} has values beyond the range of {dtype} "
                                 f"(max {torch.finfo(dtype).max:g}); export it at a wider dtype")
            value = lower
        cast[key] = value.contiguous()
    return cast


def weights_budget(folder: str | Path, *, max_file_mb: float = MAX_FILE_MB,
                   max_total_mb: float = MAX_TOTAL_MB) -> dict:
    """Sizes of every file under `folder` (one weights folder, or the root of all of them) against the limits.

    Returns:
        {"folder", "files": {relative path: bytes}, "total_bytes", "total_mb", "max_file_mb", "max_total_mb",
        "problems": one line per file over `max_file_mb` and one when the total is over `max_total_mb`}
        (no problems: within budget).

    Raises:
        InputError: `folder` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of weights")
    sizes = {path.relative_to(folder).as_posix(): size for path, size in _file_sizes(folder).items()}
    total = sum(sizes.values())
    problems = [f"{folder / name}: {size / MB:.1f} MB, over the {max_file_mb} MB limit of one file"
                for name, size in sizes.items() if size > max_file_mb * MB]
    if total > max_total_mb * MB:
        problems.append(f"{folder}: {total / MB:.1f} MB in all, over the {max_total_mb} MB limit")
    return {"folder": str(folder), "files": sizes, "total_bytes": total, "total_mb": round(total / MB, 3),
            "max_file_mb": max_file_mb, "max_total_mb": max_total_mb, "problems": problems}


def _file_sizes(folder: Path, skip: tuple[Path, ...] = ()) -> dict[Path, int]:
    """Bytes of each file under `folder` (sorted), leaving out those under any folder of `skip`."""
    skip = tuple(s.resolve() for s in skip)
    return {path: path.stat().st_size for path in sorted(folder.rglob("*"))
            if path.is_file() and not any(path.resolve().is_relative_to(s) for s in skip)}


def _check_total(root: Path, dest_dir: Path, tmp: Path, new_bytes: int, max_total_mb: float) -> None:
    """Raise InputError when the files under `root`, the export `tmp` replacing `dest_dir`, exceed the total."""
    others = sum(_file_sizes(root, skip=(dest_dir, tmp)).values()) if root.is_dir() else 0
    total = others + new_bytes
    if total > max_total_mb * MB:
        raise InputError(f"{dest_dir}: exporting it would bring {root} to {total / MB:.1f} MB "
                         f"({others / MB:.1f} MB already there + {new_bytes / MB:.1f} MB), over the {max_total_mb} MB "
                         "limit of all shipped weights; remove an old export or train a smaller preset")
