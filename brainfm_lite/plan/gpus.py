"""The GPUs the planner predicts for: peak dense FLOP/s per number format, memory, and the utilisation assumed.

Peaks are the vendors' datasheet figures for dense operations (no 2:4 sparsity): NVIDIA T4 datasheet (Turing, 2018);
NVIDIA A100 Tensor Core GPU datasheet (2021, SXM and PCIe share these peaks); NVIDIA H100 Tensor Core GPU datasheet
(SXM5; the sparse figures there are twice these).

Which peak a run gets follows the package's `Trainer`: bf16 autocast only for runs that ask for it (``precision:
bf16``: the pretrainers and the diffusion priors) on a GPU of compute capability 8 or more (A100, H100); a T4 runs
everything in fp32 (it has no bf16 units; the Trainer does not use fp16), at its fp32 peak, not its 65 TFLOP/s fp16
tensor-core peak. An fp32 run on an A100 or H100 gets TF32 tensor cores for its convolutions (PyTorch lets cuDNN use
TF32 by default, ``torch.backends.cudnn.allow_tf32``) and true fp32 for its matrix products (the default
``torch.get_float32_matmul_precision() == "highest"``; the package does not change either).
"""

from __future__ import annotations

from dataclasses import dataclass

TERA = 1e12
GB = 1e9


@dataclass(frozen=True)
class GPU:
    """One GPU's peaks (FLOP/s, dense) and memory (bytes).

    Attributes:
        name: what the table prints.
        bf16: bf16 tensor-core peak; None where the GPU has none (the Trainer then runs fp32).
        fp16: fp16 tensor-core peak (for reference; the Trainer never uses fp16).
        tf32: TF32 tensor-core peak; None where the GPU has none.
        fp32: fp32 peak without tensor cores.
        memory: device memory, bytes.
    """

    name: str
    bf16: float | None
    fp16: float
    tf32: float | None
    fp32: float
    memory: float


GPUS = {
    # T4: 65 TFLOP/s fp16 tensor cores, 8.1 TFLOP/s fp32, 16 GB GDDR6 (NVIDIA T4 datasheet)
    "t4": GPU("T4 16 GB", bf16=None, fp16=65 * TERA, tf32=None, fp32=8.1 * TERA, memory=16 * GB),
    # A100: 312 bf16/fp16, 156 TF32, 19.5 fp32; 40 GB (the 80 GB card has the same peaks) (NVIDIA A100 datasheet)
    "a100": GPU("A100 40 GB", bf16=312 * TERA, fp16=312 * TERA, tf32=156 * TERA, fp32=19.5 * TERA, memory=40 * GB),
    # H100 SXM5: 989 bf16/fp16, 495 TF32, 67 fp32, 80 GB HBM3 (NVIDIA H100 datasheet, dense figures)
    "h100": GPU("H100 SXM 80 GB", bf16=989 * TERA, fp16=989 * TERA, tf32=495 * TERA, fp32=67 * TERA, memory=80 * GB),
}

# Share of the peak a step reaches. 0.35 is a typical model-FLOPs utilisation of well-fed 3D convolutions and ViTs
# in mixed precision (large language models reach 0.4-0.5; small 3D networks less). Unmeasured here: no GPU run of
# this package has been timed yet (issue 19, item 5).
UTILISATION = 0.35
# Share of the device memory a run may plan to use: the CUDA context, cuDNN workspaces and the caching allocator's
# fragmentation take the rest (a rule of thumb, not a measurement).
MEMORY_HEADROOM = 0.9


def precision_on(gpu: GPU, asked: str) -> str:
    """The number format a run that asks for `asked` ("fp32" or "bf16") gets on `gpu` under the package's Trainer."""
    return "bf16" if asked == "bf16" and gpu.bf16 is not None else "fp32"


def seconds_for(gpu: GPU, *, matmul_flops: float, convolution_flops: float, precision: str,
                utilisation: float = UTILISATION) -> float:
    """Predicted seconds of `matmul_flops` + `convolution_flops` on `gpu` in `precision` at `utilisation`."""
    if precision == "bf16":
        return (matmul_flops + convolution_flops) / (gpu.bf16 * utilisation)
    convolution_peak = gpu.tf32 if gpu.tf32 is not None else gpu.fp32
    return matmul_flops / (gpu.fp32 * utilisation) + convolution_flops / (convolution_peak * utilisation)
