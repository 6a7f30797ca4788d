"""Training-step time and peak memory of the brainfm MAE (`brainfm_lite.models.mae`).

By default one run measures the three presets at the sizes the profiles use ("tiny" at 64^3: smoke and reference;
"small" at 96^3: colab; "base" at 96^3: full) and prints, for each:

- the step time (forward + backward + AdamW, median after warm-up) at masking 0.75 against the same model at
  masking 0, a plain autoencoder step over every patch: at 0.75 the patch embedding and the encoder see a quarter
  of the patches, the light decoder every patch and its head the hidden three quarters, so the ratio tends to the
  FLOP ratio printed beside it (goal: at most 0.4);
- the brainfm `MAE` step against MONAI's ``MaskedAutoEncoderViT`` called directly with a hand-written masked loss:
  MONAI embeds every patch before dropping the hidden ones and predicts every patch, `MAE` embeds the visible
  ones and predicts the hidden ones, so expect below 1 (close to 1 for "base", whose encoder blocks outweigh both);
- peak memory of each, measured in its own subprocess (CPU: growth of the peak resident memory after imports;
  CUDA: ``torch.cuda.max_memory_allocated``);
- on CUDA only, images/s and model FLOPs utilisation (FLOPs of one step counted by ``FlopCounterMode``, over the
  GPU's dense bf16/fp16 peak) in mixed precision for the colab ("small" at 96^3) and full ("base" at 96^3) sizes.

It ends with one line a preset: the masking ratios side by side, from this one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_mae.py --threads 1                 # all three presets, about 8 min on a CPU
    .venv/bin/python benchmarks/bench_mae.py --config small --batch 2    # one preset, a smaller batch
    .venv/bin/python benchmarks/bench_mae.py --config base               # GPU: adds images/s and MFU
    .venv/bin/python benchmarks/bench_mae.py --config tiny --set decoder_hidden_size=48 decoder_mlp_dim=192
                                                                         # a preset with fields changed
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import monai
import torch
from torch.utils.flop_counter import FlopCounterMode

from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.models.presets import MAE_PRESETS
from brainfm_lite.train import TrainConfig
from brainfm_lite.train.optim import build_optimizer

# Dense tensor-core peaks (no sparsity), TFLOPS, from the vendors' data sheets; the first matching name wins.
PEAK_TFLOPS = (
    ("H100 PCIe", 756, "bf16"), ("H100 NVL", 835, "bf16"), ("H100", 989, "bf16"), ("H200", 989, "bf16"),
    ("A100", 312, "bf16"), ("L40S", 362, "bf16"), ("L4", 121, "bf16"), ("A10", 125, "bf16"),
    ("V100", 125, "fp16"), ("T4", 65, "fp16"),
)
CASES = ("brainfm@0.75", "brainfm@0", "monai@0.75")
PRESET_SIZES = {"tiny": 64, "small": 96, "base": 96}  # volume edge each preset is used at by the profiles
GOAL = 0.4  # step-time ratio masking 0.75 / masking 0 (issue 19)
THROUGHPUT_SIZES = {"colab": ("small", 96), "full": ("base", 96)}  # on CUDA only


def monai_masked_loss(x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor, patch: int) -> torch.Tensor:
    """The masked MSE written against MONAI's outputs directly (unfold, not `MAE.patchify`)."""
    b, c = x.shape[:2]
    patches = x.unfold(2, patch, patch).unfold(3, patch, patch).unfold(4, patch, patch)  # [B, C, gx, gy, gz, p, p, p]
    target = patches.permute(0, 2, 3, 4, 5, 6, 7, 1).reshape(b, -1, patch**3 * c)
    per_patch = ((pred.float() - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


def preset_config(preset: str, size: int, fields: dict[str, int]) -> MAEConfig:
    """`preset` at `size`^3, with the MAEConfig `fields` given by ``--set`` changed."""
    return MAEConfig.preset(preset, img_size=(size, size, size), **fields)


def parse_fields(pairs: list[str]) -> dict[str, int]:
    """``--set`` arguments ("decoder_hidden_size=48") as MAEConfig fields (integers)."""
    fields = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in MAEConfig.__dataclass_fields__ or not value.isdigit():
            sys.exit(f"--set {pair}: expected FIELD=INTEGER with FIELD one of MAEConfig's fields")
        fields[name] = int(value)
    return fields


def make_step(case: str, config: MAEConfig, x: torch.Tensor, amp_dtype: torch.dtype | None):
    """A closure running one optimisation step of `case` ("brainfm@<ratio>" or "monai@<ratio>") on `x`."""
    torch.manual_seed(0)
    mae = MAE(config).to(x.device)
    model = mae.net if case.startswith("monai") else mae  # the same MONAI network, without the wrapper
    optimizer = build_optimizer(model, TrainConfig(max_steps=1, batch_size=len(x), lr=1e-4))  # the Trainer's AdamW
    ratio = float(case.split("@")[1])

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            if case.startswith("monai"):
                pred, mask = model(x, masking_ratio=ratio)
                loss = monai_masked_loss(x, pred, mask, config.patch_size[0])
            else:
                loss = model(x, masking_ratio=ratio)["loss"]
        loss.backward()
        optimizer.step()

    return step


def time_cases(cases, preset: str, size: int, args, amp_dtype: torch.dtype | None = None) -> dict:
    """Median step time (s) and FLOPs per step of each case, in this process.

    The cases' steps are interleaved (a, b, c, a, b, c ...) so that load from other processes on a shared machine
    slows every case alike instead of biasing the ratios.
    """
    device = torch.device(args.device)
    config = preset_config(preset, size, args.fields)
    x = torch.randn(args.batch, 1, size, size, size, device=device)
    steps = {case: make_step(case, config, x, amp_dtype) for case in cases}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times = {case: [] for case in cases}
    for _ in range(args.steps):
        for case, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[case].append(time.perf_counter() - start)
    results = {}
    for case, step in steps.items():
        with FlopCounterMode(display=False) as counter:
            step()
        results[case] = {"median_s": statistics.median(times[case]), "min_s": min(times[case]),
                         "flops": counter.get_total_flops()}
    return results


def measure_memory(case: str, preset: str, size: int, batch: int, device: str, amp: str | None,
                   fields: dict[str, int]) -> float:
    """Peak memory (MiB) of training `case` for a few steps: the worker side of `peak_memory`."""
    device = torch.device(device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[amp]
    rss_after_imports = peak_rss_mib()
    x = torch.randn(batch, 1, size, size, size, device=device)
    step = make_step(case, preset_config(preset, size, fields), x, amp_dtype)
    for _ in range(3):  # the optimizer state appears at the first step
        step()
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mib() - rss_after_imports


def peak_rss_mib() -> float:
    """High-water resident memory of this process, MiB.

    Linux's VmHWM belongs to the current program image; ``ru_maxrss`` would carry over the parent's peak through
    fork + exec, hiding a subprocess's own growth.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS: a fallback


def peak_memory(case: str, args, preset: str, size: int, amp: str | None = None) -> float:
    """Run `measure_memory` in a fresh Python process, so that each case's peak is its own."""
    command = [sys.executable, __file__, "--worker", case, "--config", preset, "--size", str(size),
               "--batch", str(args.batch), "--device", args.device, "--threads", str(torch.get_num_threads())]
    command += ["--amp", amp] if amp else []
    command += ["--set", *(f"{name}={value}" for name, value in args.fields.items())] if args.fields else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PEAK_MIB ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"memory run of {case} failed:\n{done.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def gpu_peak(name: str) -> tuple[float, str] | None:
    """(peak TFLOPS, dtype) for a known GPU name, else None."""
    for key, tflops, dtype in PEAK_TFLOPS:
        if key in name:
            return tflops, dtype
    return None


def print_header(args) -> None:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {platform.platform(terse=True)}, {os.cpu_count()} CPUs; device: {name}")
    print(f"torch {torch.__version__}, monai {monai.__version__}, python {platform.python_version()}")
    print(f"batch {args.batch}, median of {args.steps} steps after {args.warmup} warm-up, fp32")


def compare(args, preset: str, size: int) -> dict:
    """The masking and wrapper-overhead ratios, and memory, for `preset` at `size`^3 (fp32); returns the ratios."""
    print(f"\n== {preset} {MAE_PRESETS[preset]}, volumes {size}^3")
    if args.fields:
        print(f"   with {args.fields} (--set)")
    results = time_cases(CASES, preset, size, args)
    memory = "peak CUDA memory" if args.device.startswith("cuda") else "peak RSS growth"
    print(f"{'case':<14} {'step (s)':>9} {'min (s)':>9} {'images/s':>9} {'GFLOP/step':>11} {memory + ' (MiB)':>22}")
    for case, r in results.items():
        print(f"{case:<14} {r['median_s']:>9.4f} {r['min_s']:>9.4f} {args.batch / r['median_s']:>9.1f} "
              f"{r['flops'] / 1e9:>11.2f} {peak_memory(case, args, preset, size):>22.0f}")
    ratio = {stat: (results["brainfm@0.75"][stat] / results["brainfm@0"][stat],
                    results["brainfm@0.75"][stat] / results["monai@0.75"][stat]) for stat in ("median_s", "min_s")}
    flops = results["brainfm@0.75"]["flops"] / results["brainfm@0"]["flops"]
    # The fastest step is the least disturbed by other processes on a shared machine; both are shown.
    print(f"ratio masking 0.75 / masking 0 (step time, median; min): {ratio['median_s'][0]:.3f}; "
          f"{ratio['min_s'][0]:.3f}   (goal: at most {GOAL})")
    print(f"ratio brainfm MAE / MONAI direct (step time, median; min): {ratio['median_s'][1]:.3f}; "
          f"{ratio['min_s'][1]:.3f}   (below 1: MONAI embeds and predicts every patch)")
    print(f"ratio masking 0.75 / masking 0 (FLOPs per step): {flops:.3f}   (the floor the time ratio tends to)")
    return {"median": ratio["median_s"][0], "min": ratio["min_s"][0], "flops": flops}


def print_summary(ratios: dict) -> None:
    """One line a preset: the masking ratios measured in this run, against the goal."""
    print(f"\nsummary, masking 0.75 / masking 0 (goal: at most {GOAL}):")
    print(f"{'preset':<8} {'volumes':>8} {'step, median':>13} {'step, min':>10} {'FLOPs':>7}  goal")
    for (preset, size), r in ratios.items():
        verdict = "met" if r["median"] <= GOAL else "NOT met"
        print(f"{preset:<8} {f'{size}^3':>8} {r['median']:>13.3f} {r['min']:>10.3f} {r['flops']:>7.3f}  {verdict}")


def throughput(args) -> None:
    """CUDA only: images/s and MFU in mixed precision at the colab and full sizes."""
    name = torch.cuda.get_device_name(torch.device(args.device))
    amp = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    peak = (args.peak_tflops, amp) if args.peak_tflops else gpu_peak(name)
    source = "given by --peak-tflops" if args.peak_tflops else "from the table in this script"
    print(f"\nthroughput in {amp} autocast, batch {args.batch}; peak "
          + (f"{peak[0]} TFLOPS dense {peak[1]} ({source})" if peak else "unknown for this GPU (use --peak-tflops)"))
    for profile, (preset, size) in THROUGHPUT_SIZES.items():
        r = time_cases(["brainfm@0.75"], preset, size, args, amp_dtype)["brainfm@0.75"]
        achieved = r["flops"] / r["median_s"] / 1e12
        mfu = f"{100 * achieved / peak[0]:.1f}%" if peak else "n/a"
        print(f"{profile:<6} ({preset} at {size}^3): {args.batch / r['median_s']:.1f} images/s, "
              f"{achieved:.1f} TFLOP/s achieved, MFU {mfu}, "
              f"peak memory {peak_memory('brainfm@0.75', args, preset, size, amp):.0f} MiB")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["all", *MAE_PRESETS], default="all",
                        help="MAE preset (default: all three, each at its profiles' volume size)")
    parser.add_argument("--size", type=int, choices=(64, 96), default=None,
                        help="volume edge in voxels (default: the preset's, tiny 64, small and base 96)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=8,
                        help="volumes per step (default 8: the MAE batch of the reference and colab profiles)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (1 gives steadier timings on a machine shared with other jobs)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU peak for MFU, overrides the table")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change MAEConfig fields of the one --config measured (e.g. decoder_hidden_size=48)")
    parser.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--amp", choices=("bf16", "fp16"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.fields = parse_fields(args.set)
    if args.fields and args.config == "all":
        parser.error("--set changes one preset: name it with --config")

    if args.worker:
        size = args.size or PRESET_SIZES[args.config]
        peak = measure_memory(args.worker, args.config, size, args.batch, args.device, args.amp, args.fields)
        print(f"PEAK_MIB {peak}")
        return
    print_header(args)
    presets = list(MAE_PRESETS) if args.config == "all" else [args.config]
    ratios = {}
    for preset in presets:
        size = args.size or PRESET_SIZES[preset]
        label = f"{preset}*" if args.fields else preset  # *: fields changed by --set
        ratios[label, size] = compare(args, preset, size)
    print_summary(ratios)
    if args.device.startswith("cuda") and not args.fields:  # throughput measures the presets as they are
        throughput(args)


if __name__ == "__main__":
    main()
