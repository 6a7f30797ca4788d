"""Save and load model weights: safetensors + a JSON config, and tolerant loading of other people's checkpoints.

A saved model is a folder::

    path/model.safetensors    the state dict
    path/config.json          {"class": "MAE", "config": {...}, "brainfm_lite_version": ..., "created": ...}

`export_weights` (brainfm_lite.models.export) writes the same layout with float16 weights and a README.md model
card, for shipping; `from_pretrained` casts such weights back to the model's float32.

`from_pretrained` rebuilds the class named in config.json from a registry of known classes (`register_model`),
then loads the weights with `load_weights`. `load_weights` also reads a bare ``.safetensors`` file or a pickled
PyTorch checkpoint (``.pt/.pth/.ckpt/.tar/.bin``), which is opened with ``weights_only=True`` only: a pickle that
needs anything beyond tensors and plain containers is refused, never executed.

Checkpoint keys are adapted to the model before loading:

- the ``module.`` of DistributedDataParallel and the ``_orig_mod.`` of ``torch.compile`` are removed;
- one leading prefix is removed or added when that matches more keys (``encoder.`` of a SimCLR checkpoint,
  ``net.`` of an MAE, ``encoder.`` of a probe model ...);
- MONAI ``MaskedAutoEncoderViT`` keys become ViT encoder keys: its final LayerNorm, stored as the last entry of
  the ``blocks`` Sequential (``blocks.{L}.weight``), is renamed ``norm.weight``, and the decoder (``decoder_*``,
  ``mask_tokens``) is dropped.

Whatever still does not fit is listed in a `LoadReport`; with ``strict=True`` it raises `InputError`. So are
tensors holding NaN or infinity, and tensors whose dtype the model's cannot hold without loss (float64 into float32,
float into int ...); a lower precision of the same kind is widened (the float16 of exported weights to float32).

config.json is checked before anything is allocated: every field must have its dataclass type, and the model it
describes is built first on PyTorch's "meta" device (shapes only) to count its bytes against the memory available.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import json
import math
import pickle
import re
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from brainfm_lite import __version__
from brainfm_lite.atomic import atomic_dir, write_json
from brainfm_lite.data.memory import check_memory
from brainfm_lite.errors import InputError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin")
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile
MAE_DECODER_KEY = re.compile(r"(^|\.)(decoder_\w+|mask_tokens)(\.|$)")
MAE_FINAL_NORM_KEY = re.compile(r"(^|\.)blocks\.\d+\.(weight|bias)$")  # transformer blocks have no bare weight
# where registered classes live
MODEL_MODULES = tuple(f"brainfm_lite.models.{name}" for name in ("encoders", "mae", "simclr", "seqinv", "diffusion",
                                                                    "recon_unet", "decoders"))

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: let `from_pretrained` rebuild `cls` by name.

    The class needs a dataclass ``config_class``, a ``config`` attribute holding one, and a classmethod
    ``from_config(config)`` (or an ``__init__(config)``). Subclasses are saved under the registered name.
    """
    _MODELS[cls.__name__] = cls
    return cls


def registered_name(model: nn.Module) -> str:
    """The registered class `model` is an instance of (its own class or the nearest registered base)."""
    for cls in type(model).__mro__:
        if _MODELS.get(cls.__name__) is cls:
            return cls.__name__
    raise InputError(f"cannot save a {type(model).__name__}: not a registered model (known: {', '.join(_MODELS)})")


@dataclass
class LoadReport:
    """What happened to each key when loading `source` into a model.

    Attributes:
        source: the file (or "<state dict>") read.
        loaded: keys copied into the model.
        missing: model keys the checkpoint does not have (left as initialised).
        unexpected: checkpoint keys the model does not have (ignored).
        mismatched: (key, checkpoint shape, model shape) for keys in both with different shapes (not copied).
        wrong_dtype: (key, checkpoint dtype, model dtype) for tensors the model's dtype cannot hold without loss
            (not copied).
        nonfinite: keys of tensors holding NaN or infinity (not copied).
        dropped: checkpoint keys left out on purpose (an MAE decoder when loading an encoder).
        adaptations: the key changes and lossless casts applied, in words.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    wrong_dtype: list[tuple[str, str, str]] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    adaptations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every model key was loaded and nothing unexplained was left over."""
        return not (self.missing or self.unexpected or self.mismatched or self.wrong_dtype or self.nonfinite)

    def problems(self) -> str:
        """One line per kind of problem, each naming the first 10 keys and how many there are."""
        lines = []
        for name, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                lines.append(f"{len(keys)} {name} keys: {_first_ten(keys)}")
        if self.mismatched:
            shapes = [f"{k} {tuple(a)} in checkpoint vs {tuple(b)} in model" for k, a, b in self.mismatched]
            lines.append(f"{len(shapes)} shape mismatches: {_first_ten(shapes)}")
        if self.wrong_dtype:
            dtypes = [f"{k} {a} in checkpoint vs {b} in model" for k, a, b in self.wrong_dtype]
            lines.append(f"{len(dtypes)} dtype mismatches (the model's dtype cannot hold them without loss): "
                         f"{_first_ten(dtypes)}")
        if self.nonfinite:
            lines.append(f"{len(self.nonfinite)} tensors holding NaN or infinity: {_first_ten(self.nonfinite)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        summary = f"{self.source}: loaded {len(self.loaded)} tensors"
        if self.adaptations:
            summary += f" ({'; '.join(self.adaptations)})"
        if self.dropped:
            summary += f", dropped {len(self.dropped)}"
        return summary + ("\n" + self.problems() if not self.ok else "")


def _first_ten(items: list[str]) -> str:
    shown = ", ".join(items[:10])
    return shown + (f" ... and {len(items) - 10} more" if len(items) > 10 else "")


# --- saving -----------------------------------------------------------------------------------------------------

def save_pretrained(model: nn.Module, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Write `model` to the folder `path` (model.safetensors + config.json), atomically.

    Everything is written into a temporary folder beside `path`, which is then renamed onto it: a crash leaves
    either the previous save or the new one, never a half-written folder. A previous save at `path` is replaced;
    any other existing folder is refused.

    Args:
        model: an instance of a registered class (Encoder, MAE ...) with a dataclass ``config``.
        path: destination folder.
        metadata: extra JSON-serialisable information (data set, epochs, metrics ...) stored in config.json.

    Returns:
        The folder.
    """
    path = Path(path)
    name = registered_name(model)
    if path.exists() and not (path / CONFIG_NAME).is_file():
        raise InputError(f"{path}: exists and is not a saved model; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "class": name,
        "config": dataclasses.asdict(model.config),
        "brainfm_lite_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metadata": metadata or {},
    }
    with atomic_dir(path) as tmp:
        tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"class": name})
        write_json(tmp / CONFIG_NAME, config)
    return path


# --- loading ------------------------------------------------------------------------------------------------------

def from_pretrained(path: str | Path, *, strict: bool = True, max_bytes: int | None = None) -> nn.Module:
    """Rebuild the model saved by `save_pretrained` in the folder `path` and load its weights (on the CPU).

    Weights stored at a lower precision (the float16 of `export_weights`) are cast to the model's own dtype
    (float32) on loading. With ``strict=False`` keys that do not fit are warned about (and left as initialised)
    instead of raising.

    Args:
        path: the folder.
        strict: raise when a weight is missing, unexpected, of another shape, of a dtype the model cannot hold
            without loss, or holds NaN or infinity.
        max_bytes: the most memory the model and its weights may take (default: ``BRAINFM_MAX_MEMORY_GB``, else
            no cap); the memory available now always limits it too.

    Raises:
        InputError: no config.json, an unknown class, config fields the class does not have or of the wrong type,
            a model too large for memory, or (strict) weights that do not fit.
    """
    path = Path(path)
    model = model_from_config(path, max_bytes=max_bytes, extra_bytes=_file_size(path / WEIGHTS_NAME))
    report = load_weights(model, path / WEIGHTS_NAME, strict=strict)
    if not report.ok:
        warnings.warn(str(report), stacklevel=2)
    return model


def pretrained_encoder(path: str | Path) -> nn.Module:
    """The encoder saved in the folder `path`: the model itself when an `Encoder` was saved, else the encoder of the
    saved objective (an MAE exported with its decoder, a SimCLR ...: ``model.encoder()``), on the CPU."""
    from brainfm_lite.models.encoders import Encoder  # here: encoders registers its classes through this module

    model = from_pretrained(path)
    return model if isinstance(model, Encoder) else model.encoder()


def model_from_config(path: str | Path, *, max_bytes: int | None = None, extra_bytes: int = 0) -> nn.Module:
    """The model described by the config.json in the folder `path`, freshly initialised (no weights loaded).

    Args:
        path: the folder.
        max_bytes: the most memory the model (plus `extra_bytes`) may take; see `from_pretrained`.
        extra_bytes: memory the caller will need beside the model (the weights file it is about to read).

    Raises:
        InputError: no config.json, an unknown class, config fields the class does not have or of the wrong type,
            values the config class refuses, or a model too large for memory; each names the file and field.
    """
    path = Path(path)
    config_file = path / CONFIG_NAME
    if not config_file.is_file():
        raise InputError(f"{path}: no {CONFIG_NAME}; expected a folder written by save_pretrained")
    try:
        saved = json.loads(config_file.read_text())
        name, values = saved["class"], saved["config"]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{config_file}: not a brainfm_lite model config ({err})") from err
    if name not in _MODELS:
        for module in MODEL_MODULES:  # register every class the package defines
            importlib.import_module(module)
    if name not in _MODELS:
        raise InputError(f"{config_file}: unknown model class {name!r} (known: {', '.join(_MODELS)})")
    cls = _MODELS[name]
    known = {f.name for f in dataclasses.fields(cls.config_class)}
    if not isinstance(values, dict):
        raise InputError(f"{config_file}: field 'config' must be an object of fields, got {type(values).__name__}")
    if set(values) - known:
        raise InputError(f"{config_file}: fields {sorted(set(values) - known)} are not in {cls.config_class.__name__}"
                         " (saved by a newer brainfm_lite?)")
    _check_field_types(config_file, cls.config_class, values)
    try:
        config = cls.config_class(**values)
    except (InputError, TypeError, ValueError, ZeroDivisionError) as err:
        raise InputError(f"{config_file}: {err}") from err

    def build() -> nn.Module:
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(config)

    with torch.device("meta"):  # shapes only: counts the bytes without allocating them
        try:
            shapes = build()
        except (InputError, TypeError, ValueError, RuntimeError, ZeroDivisionError) as err:
            raise InputError(f"{config_file}: cannot build {name} from this config ({err})") from err
    n_bytes = sum(t.numel() * t.element_size() for t in (*shapes.parameters(), *shapes.buffers()))
    culprit = _largest_field(cls.config_class, values)
    check_memory(n_bytes + extra_bytes, f"{config_file}: the {name} it describes "
                 f"({sum(p.numel() for p in shapes.parameters()):.3g} parameters{culprit}) and its weights",
                 max_bytes=max_bytes, damaged="the config")
    return build()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_field_types(config_file: Path, config_class, values: dict, prefix: str = "") -> None:
    """Raise InputError naming the first field whose value does not have its declared type (JSON: lists for
    tuples); nested config dataclasses (a SimCLR's encoder) are checked field by field."""
    hints = typing.get_type_hints(config_class)
    for name, value in values.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise InputError(f"{config_file}: field '{prefix}{name}' must be an object of {hint.__name__} "
                                 f"fields, got {value!r}")
            known = {f.name for f in dataclasses.fields(hint)}
            if set(value) - known:
                raise InputError(f"{config_file}: fields {sorted(set(value) - known)} of '{prefix}{name}' are not "
                                 f"in {hint.__name__}")
            _check_field_types(config_file, hint, value, prefix=f"{prefix}{name}.")
        elif hint is not None and not _has_type(value, hint):
            raise InputError(f"{config_file}: field '{prefix}{name}' must be {_type_name(hint)}, got {value!r}")


def _has_type(value, hint) -> bool:
    """Whether a value read from JSON fits the annotation `hint` (int, float, bool, str, tuples, unions)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(value, (list, tuple)) and all(_has_type(v, args[0]) for v in value)
        if all(arg is int for arg in args) and _has_type(value, int):
            return True  # an int stands for all of a fixed tuple of ints (img_size=64)
        return (isinstance(value, (list, tuple)) and len(value) == len(args)
                and all(_has_type(v, a) for v, a in zip(value, args)))
    return True  # a type this check does not know: the config class checks it


def _ints(value) -> list[int]:
    """The integers of an int or a sequence of ints; [] for anything else."""
    values = value if isinstance(value, (list, tuple)) else [value]
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return list(values) if ok else []


def _type_name(hint) -> str:
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    if hint in names:
        return names[hint]
    return str(hint).replace("typing.", "")


def _largest_field(config_class, values: dict) -> str:
    """For the message about a model too large: the integer field furthest above its default (a damaged or
    hostile config usually inflates one), as "; hidden_size=1000000 is the field largest against its default 768"."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_class) if f.default is not dataclasses.MISSING}
    ratios = {}
    for name, value in values.items():
        numbers = _ints(value)
        reference = _ints(defaults.get(name))
        if numbers and reference and max(reference) > 0:
            ratios[name] = max(numbers) / max(reference)
    if not ratios or max(ratios.values()) <= 1:
        return ""
    name = max(ratios, key=ratios.get)
    return f"; {name}={values[name]!r} is the field largest against its default {defaults[name]!r}"


def load_weights(model: nn.Module, source, *, strict: bool = True) -> LoadReport:
    """Load weights from `source` into `model`, adapting key names, and report what fit.

    Args:
        model: the module to fill (in place).
        source: a folder written by `save_pretrained`, a ``.safetensors`` file, a pickled checkpoint
            (``.pt/.pth/.ckpt/.tar/.bin``, read with ``weights_only=True``), or a state dict.
            Checkpoints that wrap the state dict under "state_dict", "model_state_dict", "model" or "module"
            are unwrapped.
        strict: raise when any model key is missing, any checkpoint key is unexpected, or a shape differs.
            Keys dropped on purpose (an MAE decoder) never count against it.

    Returns:
        A `LoadReport`. Keys that fit are loaded even when ``strict=False`` reports problems.

    Raises:
        InputError: unreadable source, a pickle that needs more than tensors, or (strict) keys that do not fit;
            the message names the file and lists the keys.
    """
    label = "<state dict>" if isinstance(source, Mapping) else str(source)
    state = _unwrap(source if isinstance(source, Mapping) else read_checkpoint(source), label)
    expected = model.state_dict()
    state, adaptations, dropped = adapt_keys(state, expected.keys())

    report = LoadReport(source=label, adaptations=adaptations, dropped=dropped)
    fitting = {}
    for key, value in state.items():
        if key not in expected:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(expected[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(expected[key].shape)))
        else:
            fitting[key] = value
    _cast_to_model_dtype(fitting, expected, report)
    report.missing = [key for key in expected if key not in state]
    if strict and not report.ok:
        raise InputError(f"{label}: weights do not fit {type(model).__name__}\n{report.problems()}")
    model.load_state_dict(fitting, strict=False)
    report.loaded = list(fitting)
    return report


def _cast_to_model_dtype(state: dict, expected: Mapping, report: LoadReport) -> None:
    """Widen tensors of `state` (in place) to the dtype of the model's tensor of the same key; take out, and report,
    those the model's dtype cannot hold without loss and those holding NaN or infinity."""
    cast = set()
    for key, value in list(state.items()):
        target = expected[key].dtype
        if value.dtype != target:
            if not _widens(value.dtype, target):
                report.wrong_dtype.append((key, _dtype_name(value.dtype), _dtype_name(target)))
                del state[key]
                continue
            cast.add(f"{_dtype_name(value.dtype)} -> {_dtype_name(target)}")
            state[key] = value = value.to(target)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            report.nonfinite.append(key)
            del state[key]
    if cast:
        report.adaptations.append(f"cast {', '.join(sorted(cast))}")


def _widens(source: torch.dtype, target: torch.dtype) -> bool:
    """True when `target` holds every value of `source` (float16 -> float32, int32 -> int64), of the same kind."""
    same_kind = source.is_floating_point == target.is_floating_point and source.is_complex == target.is_complex
    return same_kind and (source == torch.bool) == (target == torch.bool) and \
        torch.promote_types(source, target) == target


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def read_checkpoint(path: str | Path) -> Mapping:
    """The raw content of a weights file or saved folder, never unpickling arbitrary objects."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as err:
            raise InputError(f"{path}: not a readable safetensors file ({err})") from err
    if path.suffix in PICKLE_SUFFIXES:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            blocked = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
            if blocked:
                raise InputError(f"{path}: refused: the pickle needs {blocked.group(1)}, which is not a tensor or "
                                 "plain container, and unpickling it could run arbitrary code. Re-save only its "
                                 "state_dict(), or convert it to safetensors, in a session you trust.") from err
            raise InputError(f"{path}: not a readable PyTorch checkpoint ({str(err).splitlines()[0]})") from err
        except (RuntimeError, EOFError, OSError) as err:
            raise InputError(f"{path}: not a readable PyTorch checkpoint ({err})") from err
    raise InputError(f"{path}: unknown weights format; expected .safetensors or one of {', '.join(PICKLE_SUFFIXES)}")


def _unwrap(checkpoint, label: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, looking inside the usual containers ({"model_state_dict": {...}} ...)."""
    while isinstance(checkpoint, Mapping) and not any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        inner = next((checkpoint[k] for k in CONTAINER_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
        if inner is None:
            break
        checkpoint = inner
    if not isinstance(checkpoint, Mapping):
        raise InputError(f"{label}: expected a state dict (a mapping of names to tensors), got {type(checkpoint)}")
    tensors = {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise InputError(f"{label}: no tensors found (top-level keys: {_first_ten(list(map(str, checkpoint)))})")
    return tensors


# --- key adaptation -----------------------------------------------------------------------------------------------

def adapt_keys(state: dict, expected_keys) -> tuple[dict, list[str], list[str]]:
    """Rename checkpoint keys to match the model as well as possible.

    Wrapper prefixes (``module.``, ``_orig_mod.``) are always removed. Then, among: keys as they are, one leading
    prefix removed, one of the model's leading prefixes added, each with or without the MAE -> ViT renaming, the
    variant matching the most model keys wins (the simplest on ties).

    Returns:
        (adapted state dict, adaptations in words, keys dropped on purpose).
    """
    expected = set(expected_keys)
    notes = []
    for prefix in WRAPPER_PREFIXES:
        if any(key.startswith(prefix) for key in state):
            state = {_strip(key, prefix): value for key, value in state.items()}
            notes.append(f"removed '{prefix}'")

    best = (state, [], [])
    best_matches = len(expected & set(state))
    for renamed, note in _prefix_variants(state, expected):
        for candidate, more_notes, dropped in ((renamed, [], []), _mae_to_vit(renamed)):
            matches = len(expected & set(candidate))
            if matches > best_matches:
                best, best_matches = (candidate, [note, *more_notes], dropped), matches
    state, chosen_notes, dropped = best
    return state, notes + [n for n in chosen_notes if n], dropped


def _strip(key: str, prefix: str) -> str:
    while key.startswith(prefix):
        key = key[len(prefix):]
    return key


def _prefix_variants(state: dict, expected: set[str]):
    """(state, note) for: unchanged, each leading prefix of the checkpoint removed, each of the model's added."""
    yield state, ""
    for prefix in sorted({key.split(".", 1)[0] + "." for key in state if "." in key}):
        yield {_strip(k, prefix): v for k, v in state.items()}, f"removed '{prefix}'"
    for prefix in sorted({key.split(".", 1)[0] + "." for key in expected if "." in key}):
        yield {prefix + k: v for k, v in state.items()}, f"added '{prefix}'"


def _mae_to_vit(state: dict) -> tuple[dict, list[str], list[str]]:
    """MONAI MaskedAutoEncoderViT keys -> ViT encoder keys: final norm renamed, decoder dropped."""
    dropped = [key for key in state if MAE_DECODER_KEY.search(key)]
    if not dropped:
        return state, [], []
    renamed = {}
    for key, value in state.items():
        if key in dropped:
            continue
        if MAE_FINAL_NORM_KEY.search(key):
            key = re.sub(r"blocks\.\d+\.(weight|bias)$", r"norm.\1", key)
        renamed[key] = value
    return renamed, ["MAE encoder -> ViT (final norm renamed, decoder dropped)"], dropped
