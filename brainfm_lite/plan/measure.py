"""Measure one step of a network: FLOPs by kind of operation, and the bytes of activations kept for the backward pass.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on a real forward (and backward) pass: it counts the
matrix products (``mm``, ``addmm``, ``bmm``, ``baddbmm``, attention kernels) and convolutions (forward and both
gradients) that torch dispatches, as 2 FLOPs a multiply-add. Element-wise work (norms, activations, the optimiser's
update) is not counted: it is bandwidth-bound and small beside the products of these networks.

Activation memory of a training step is what autograd saves for the backward pass
(``torch.autograd.graph.saved_tensors_hooks``): the bytes of every saved tensor's storage, each storage counted once
(views share one), parameters excluded (they are weight memory). An inference step runs under ``no_grad`` and keeps
nothing for a backward pass; its activation memory is the peak of the bytes of the tensors it has created and that
are still alive (`LiveTensorPeak`), at the granularity of single operations.

The step's count of dispatched aten operations (`operations`, forward and backward) bounds its time from below on a
GPU: each costs the host some microseconds to issue (``HOST_SECONDS_PER_OPERATION`` of `brainfm_lite.plan.gpus`),
which a small network's kernels do not hide.

    >>> cost = measure_step(TRAINING_STEPS["mae_cbf"](profile))                        # doctest: +SKIP
    >>> cost.flops, cost.activation_bytes                                              # doctest: +SKIP
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from brainfm_lite.plan.steps import ModelStep

aten = torch.ops.aten

CONVOLUTION_OPS = ("convolution", "_convolution", "convolution_backward", "cudnn_convolution", "_slow_conv2d_forward",
                   "convolution_overrideable")
# Products whose size grows with the square of the tokens (attention scores and their use): in MONAI's attention
# blocks these are the batched products (einsum -> bmm); the fused attention kernels likewise.
ATTENTION_OPS = ("bmm", "baddbmm")


def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _attention_backward_flops(grad_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_shape, query_shape, key_shape, value_shape)


# The CPU's fused attention kernels (scaled_dot_product_attention, which the diffusion prior uses): torch's counter
# knows their GPU twins only, so they are counted here with the same formulas (torch's own counts, by shape).
CPU_ATTENTION_FLOPS = {aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops,
                       aten._scaled_dot_product_flash_attention_for_cpu_backward: _attention_backward_flops}


@dataclass
class StepCost:
    """FLOPs and activation bytes of one measured step (for the units its batch held).

    Attributes:
        flops_by_op: FLOPs per aten operation name (e.g. {"mm": 1.2e9, "convolution": ...}).
        activation_bytes: bytes of the tensors saved for the backward pass (storages counted once); for an
            inference step, the peak bytes of the tensors it holds alive at once.
        parameters: parameters of the objective (all, trainable or not).
        trainable: parameters that receive gradients.
        backward: whether a backward pass was run (training) or not (inference).
        storage_bytes: bytes of each storage counted, in the order they appeared (saved tensors of a training
            step; every storage an inference step created); with `timeline`, what `extrapolated_activations` scales
            tensor by tensor.
        timeline: an inference step's storage events in order: k + 1 when storage k appears, -(k + 1) when it is
            freed (replaying it with other sizes gives that peak).
        operations: aten operations the step dispatched (forward and backward): a count per step, which neither
            the batch nor the image size changes.
    """

    flops_by_op: dict[str, float] = field(default_factory=dict)
    activation_bytes: int = 0
    parameters: int = 0
    trainable: int = 0
    backward: bool = True
    storage_bytes: tuple[int, ...] = ()
    timeline: tuple[int, ...] = ()
    operations: int = 0

    @property
    def flops(self) -> float:
        return float(sum(self.flops_by_op.values()))

    @property
    def convolution_flops(self) -> float:
        return float(sum(v for k, v in self.flops_by_op.items() if k in CONVOLUTION_OPS))

    @property
    def matmul_flops(self) -> float:
        return self.flops - self.convolution_flops

    @property
    def attention_flops(self) -> float:
        return float(sum(v for k, v in self.flops_by_op.items() if k in ATTENTION_OPS or "attention" in k))


class LiveTensorPeak(TorchDispatchMode):
    """The peak bytes of the tensors created inside the mode that are alive at once (`peak_bytes`).

    Every tensor an operation returns (views included) is counted against its storage; a storage's bytes count from
    its first tensor's creation until its last such tensor is garbage-collected. Tensors made before the mode
    (parameters, inputs) are not counted.
    """

    def __init__(self):
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self.storage_bytes: list[int] = []  # every storage seen, in order of appearance
        self.timeline: list[int] = []  # k + 1: storage k appears; -(k + 1): it is freed
        self._tensors: dict[int, int] = {}  # storage address -> tensors alive on it
        self._index: dict[int, int] = {}  # storage address -> its k

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                self._track(tensor)
        return out

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address == 0:
            return
        if address not in self._tensors:
            self._tensors[address], self._index[address] = 0, len(self.storage_bytes)
            self.storage_bytes.append(storage.nbytes())
            self.timeline.append(len(self.storage_bytes))
            self.live_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        self._tensors[address] += 1
        weakref.finalize(tensor, self._release, address)

    def _release(self, address: int) -> None:
        self._tensors[address] -= 1
        if self._tensors[address] == 0:
            del self._tensors[address]
            k = self._index.pop(address)
            self.timeline.append(-(k + 1))
            self.live_bytes -= self.storage_bytes[k]


class OperationCount(TorchDispatchMode):
    """Counts the aten operations dispatched inside the mode (`count`): what a GPU's host issues one by one."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _op_name(op) -> str:
    """"mm" for aten.mm.default (FlopCounterMode keys its counts by the overload packet, printed "aten.mm")."""
    return str(op).split(".")[-1] if str(op).startswith("aten.") else str(op)


def measure_step(step: ModelStep, *, backward: bool | None = None) -> StepCost:
    """Run `step` once on the CPU (forward, and backward for a training step) and measure it.

    Args:
        step: a `ModelStep` (its batch at the sizes to measure).
        backward: run the backward pass; default: when the step is a training step (``step.config`` set).

    Returns:
        The `StepCost` of the step's batch (``step.units`` units).
    """
    backward = step.config is not None if backward is None else backward
    objective = step.objective
    objective.train(backward)
    parameter_storages = {p.untyped_storage().data_ptr() for p in objective.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in parameter_storages and pointer != 0:  # 0: empty storages
            saved[pointer] = storage.nbytes()
        return tensor

    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    live, operations = LiveTensorPeak(), OperationCount()
    if backward:
        with counter, operations, torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            step.loss().float().sum().backward()
        activation_bytes, storage_bytes, timeline = sum(saved.values()), tuple(saved.values()), ()
    else:
        with torch.no_grad(), counter, live, operations:
            step.loss()
        activation_bytes, storage_bytes, timeline = live.peak_bytes, tuple(live.storage_bytes), tuple(live.timeline)
    flops_by_op: dict[str, float] = {}
    for op, count in counter.get_flop_counts().get("Global", {}).items():
        name = _op_name(op)
        flops_by_op[name] = flops_by_op.get(name, 0.0) + float(count)
    objective.zero_grad(set_to_none=True)
    return StepCost(flops_by_op=flops_by_op, activation_bytes=activation_bytes,
                    parameters=sum(p.numel() for p in objective.parameters()),
                    trainable=sum(p.numel() for p in objective.parameters() if p.requires_grad), backward=backward,
                    storage_bytes=storage_bytes, timeline=timeline, operations=operations.count)


def scale_cost(cost: StepCost, factor: float, *, attention_factor: float | None = None) -> StepCost:
    """`cost` with every FLOP and byte count multiplied by `factor` (e.g. per unit -> per batch, or a reduced input
    -> the real one by voxel count); attention products by `attention_factor` (default `factor`). The count of
    operations is per step and stays."""
    attention_factor = factor if attention_factor is None else attention_factor
    flops = {op: value * (attention_factor if op in ATTENTION_OPS or "attention" in op else factor)
             for op, value in cost.flops_by_op.items()}
    return StepCost(flops_by_op=flops, activation_bytes=int(round(cost.activation_bytes * factor)),
                    parameters=cost.parameters, trainable=cost.trainable, backward=cost.backward,
                    operations=cost.operations)


def extrapolated_activations(small: StepCost, large: StepCost, *, ratio: float, growth: float) -> int | None:
    """The activation bytes of a step at `growth` times the voxels of `large`, from two measurements of the same
    step, `small` and `large` (`ratio` times its voxels), tensor by tensor: each storage's bytes follow a power of
    the voxel count fitted through its two sizes (1 for feature maps, 2 for attention maps, 0 for what does not
    grow); a training step sums them, an inference step replays its timeline for the peak. None when the two
    measurements did not create as many storages and events (the fit would pair unrelated tensors)."""
    if len(small.storage_bytes) != len(large.storage_bytes) or len(small.timeline) != len(large.timeline) \
            or ratio <= 1:
        return None
    sizes = []
    for a, b in zip(small.storage_bytes, large.storage_bytes):
        power = math.log(b / a) / math.log(ratio) if a > 0 and b > 0 else 0.0
        sizes.append(b * growth ** power)
    if large.backward:
        return int(round(sum(sizes)))
    live = peak = 0.0
    for event in large.timeline:
        live += sizes[event - 1] if event > 0 else -sizes[-event - 1]
        peak = max(peak, live)
    return int(round(peak))
