"""The GPUs the planner predicts for: peak dense FLOP/s per number format, memory, the share of the peak a step
reaches on each, and the host's cost of issuing one operation.

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
    """One GPU's peaks (FLOP/s, dense), memory (bytes) and the share of its peak the chapters' steps reach.

    Attributes:
        name: what the table prints.
        bf16: bf16 tensor-core peak; None where the GPU has none (the Trainer then runs fp32).
        fp16: fp16 tensor-core peak (for reference; the Trainer never uses fp16).
        tf32: TF32 tensor-core peak; None where the GPU has none.
        fp32: fp32 peak without tensor cores.
        memory: device memory, bytes.
        utilisation: share of the peak a step's FLOPs run at.
        utilisation_source: where `utilisation` comes from (a measurement, or "assumed").
    """

    name: str
    bf16: float | None
    fp16: float
    tf32: float | None
    fp32: float
    memory: float
    utilisation: float
    utilisation_source: str


# The full profile's steps on an H200 (the H100's compute peaks), one Trainer step each at their real sizes and
# batches (book/results/full/gpu_steps.json, benchmarks/bench_gpu_steps.py, 2026-12-04): the steps whose FLOPs
# dominate reached 0.03-0.17 of these peaks (0.49 for one fp32 ViT fine-tuning, whose matrix products ran above the
# fp32 peak counted here), median 0.10; the 3D CNNs top out near 0.11 even at 4x the batch. Large language models
# reach 0.4-0.5; these small 3D networks do not fill so large a GPU.
GPUS = {
    # T4: 65 TFLOP/s fp16 tensor cores, 8.1 TFLOP/s fp32, 16 GB GDDR6 (NVIDIA T4 datasheet). Unmeasured: a typical
    # share for fp32 3D convolutions on a GPU this small is assumed.
    "t4": GPU("T4 16 GB", bf16=None, fp16=65 * TERA, tf32=None, fp32=8.1 * TERA, memory=16 * GB, utilisation=0.35,
              utilisation_source="assumed: no T4 measured yet"),
    # A100: 312 bf16/fp16, 156 TF32, 19.5 fp32; 40 GB (the 80 GB card has the same peaks) (NVIDIA A100 datasheet).
    # Unmeasured: the H100's measured share is taken (the same kind of card, a third of the peak).
    "a100": GPU("A100 40 GB", bf16=312 * TERA, fp16=312 * TERA, tf32=156 * TERA, fp32=19.5 * TERA, memory=40 * GB,
                utilisation=0.10, utilisation_source="assumed equal to the H100's measured share"),
    # H100 SXM5: 989 bf16/fp16, 495 TF32, 67 fp32, 80 GB HBM3 (NVIDIA H100 datasheet, dense figures); the H200 has
    # the same compute peaks with 141 GB.
    "h100": GPU("H100 SXM 80 GB", bf16=989 * TERA, fp16=989 * TERA, tf32=495 * TERA, fp32=67 * TERA, memory=80 * GB,
                utilisation=0.10, utilisation_source="measured: median of the full profile's steps on an H200 "
                                                     "(book/results/full/gpu_steps.json)"),
}

# What the host spends issuing one aten operation to a GPU (Python, the dispatcher, the kernel launch): a step of
# N operations takes at least N times this, however few its FLOPs. Measured on the H200 machine's host
# (bench_gpu_steps.py, 2026-12-04): the MAE and ViT fine-tuning steps, 750-2,900 operations of little arithmetic,
# took 16-25 us an operation (the MAE ViT-B step at batch 32: 46-63 ms for 2,861, flat from batch 8 to 256).
HOST_SECONDS_PER_OPERATION = 20e-6
# Share of the device memory a run may plan to use: the CUDA context, cuDNN workspaces and the caching allocator's
# fragmentation take the rest (a rule of thumb, not a measurement).
MEMORY_HEADROOM = 0.9


def precision_on(gpu: GPU, asked: str) -> str:
    """The number format a run that asks for `asked` ("fp32" or "bf16") gets on `gpu` under the package's Trainer."""
    return "bf16" if asked == "bf16" and gpu.bf16 is not None else "fp32"


def seconds_for(gpu: GPU, *, matmul_flops: float, convolution_flops: float, precision: str,
                utilisation: float | None = None) -> float:
    """Predicted seconds of `matmul_flops` + `convolution_flops` on `gpu` in `precision` at `utilisation` (default
    the GPU's)."""
    utilisation = gpu.utilisation if utilisation is None else utilisation
    if precision == "bf16":
        return (matmul_flops + convolution_flops) / (gpu.bf16 * utilisation)
    convolution_peak = gpu.tf32 if gpu.tf32 is not None else gpu.fp32
    return matmul_flops / (gpu.fp32 * utilisation) + convolution_flops / (convolution_peak * utilisation)
