"""One step of every chapter run timed on a CUDA GPU, at the profile's real sizes and batches, beside the prediction
of `brainfm plan`; the model FLOPs utilisation (MFU) of each step, the MAE ViT-B step's in bf16 among them.

Each step is built as the planner builds it (`brainfm_lite.plan.steps`), its random batch grown to the run's batch,
and trained by the package's own `Trainer` step (fused AdamW, bf16 autocast where the run asks for it and the GPU
has bf16 units, clipping, EMA): ``--warmup`` steps, then ``--steps`` timed ones, each synchronised. The posterior
sampling row times one network evaluation of all the test slices. FLOPs are counted on the GPU by torch's
`FlopCounterMode` over one whole step at the real size (nothing scaled), memory is the allocator's peak over the
timed steps, and the bf16 matrix rate of the card is measured first (an 8192^3 product), so that the MFU is given
against both that measured rate and the datasheet peak.

The planner predicts for the GPUs of `brainfm_lite.plan.gpus`; an H200 has the H100's compute peaks (the same chip
with more memory), so on an H100 or H200 ``--plan-gpu h100`` compares like with like. ``reached`` is the share of
the peak the step's FLOPs ran at, by the planner's own formula: the plan's utilisation x the plan's time for the
FLOPs / the measured time (what `brainfm_lite.plan.gpus` takes its measured utilisation from).

Writes ``<out-dir>/<profile>/gpu_steps.json`` (atomically) with the provenance of the run. On a CPU-only machine it
stops with a clear message unless ``--device cpu`` (a dry run of the script itself, no MFU).

Run from the repository root on a GPU machine::

    python benchmarks/bench_gpu_steps.py --profiles colab full                  # writes book/results/<profile>/
    python benchmarks/bench_gpu_steps.py --profiles colab --plan-json plan.json  # reuse `brainfm plan --json`
    python benchmarks/bench_gpu_steps.py --profiles smoke --device cpu --steps 1 --out-dir /tmp/gpu_dry
    python benchmarks/bench_gpu_steps.py --compare book/results/full/gpu_steps.json   # on any machine
    python benchmarks/bench_gpu_steps.py --profiles colab --compile default --only mae_cbf seqinv

``--compile MODE`` times each training step twice in the same process, as the Trainer runs it (eager) and with its
forward and backward compiled by ``torch.compile(model, mode=MODE)`` (the Trainer calls ``Trainer.wrapped``; the
optimizer step, clipping and EMA stay eager), and records both, the speed-up and the seconds the first compiled
step took (compilation), in ``gpu_steps_compiled-MODE.json``. Sampling rows are not compiled.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

from brainfm_lite.atomic import write_json
from brainfm_lite.config import load_profile
from brainfm_lite.plan import plan_profile
from brainfm_lite.plan.gpus import GPUS
from brainfm_lite.plan.measure import CPU_ATTENTION_FLOPS
from brainfm_lite.plan.steps import INFERENCE_STEPS, TRAINING_STEPS
from brainfm_lite.provenance import environment
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

MATMUL_EDGE = 8192


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measured_matmul_rate(device: torch.device, dtype=torch.bfloat16, repeats: int = 10) -> float | None:
    """FLOP/s of an ``MATMUL_EDGE``^3 product in `dtype` on random data (median of `repeats` after 3 warm-ups)."""
    if device.type != "cuda":
        return None
    a, b = (torch.randn(MATMUL_EDGE, MATMUL_EDGE, device=device, dtype=dtype) for _ in range(2))
    times = []
    for k in range(3 + repeats):
        synchronize(device)
        started = time.perf_counter()
        a @ b
        synchronize(device)
        if k >= 3:
            times.append(time.perf_counter() - started)
    return 2 * MATMUL_EDGE**3 / statistics.median(times)


def grown(value, units: int, size: int):
    """`value` (a step's batch of `units` rows) with `size` rows: images drawn afresh (random, never zeros or copies
    that a cache could serve), integer label maps drawn in their range, other per-row values repeated."""
    if isinstance(value, dict):
        return {key: grown(item, units, size) for key, item in value.items()}
    if not torch.is_tensor(value) or value.ndim == 0 or value.shape[0] != units:
        return value
    shape = (size, *value.shape[1:])
    if value.ndim >= 4 and value.is_floating_point():
        return torch.randn(shape, dtype=value.dtype)
    if value.ndim >= 4:
        return torch.randint(0, int(value.max()) + 1, shape, dtype=value.dtype)
    return value.repeat((size + units - 1) // units, *([1] * (value.ndim - 1)))[:size]


def time_calls(call, device: torch.device, warmup: int, steps: int) -> list[float]:
    """Wall seconds of each of `steps` synchronised calls of `call`, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(steps):
        synchronize(device)
        started = time.perf_counter()
        call()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times


def counted_flops(call) -> float:
    """FLOPs of one `call` (forward and backward for a training step) by torch's counter."""
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)  # the CPU's too (dry runs)
    with counter:
        call()
    return float(counter.get_total_flops())


def training_call(name: str, profile, batch_size: int, device: torch.device, scratch: Path, *, fp32: bool,
                  compile_mode: str | None = None):
    """A closure that makes one Trainer step of `name` at `batch_size` units on `device` (in fp32 everywhere when
    `fp32`, as on a T4; its forward and backward compiled with `compile_mode` when one is given), and its Trainer."""
    with seeded_init(profile.seed):
        step = TRAINING_STEPS[name](profile)
    config = dataclasses.replace(step.config, device=str(device), batch_size=batch_size, num_workers=0,
                                 progress=False, precision="fp32" if fp32 else step.config.precision)
    batch = grown(step.batch, step.units, batch_size)
    trainer = Trainer(step.objective, [None] * batch_size, config, out_dir=scratch / name)
    if compile_mode:
        torch._dynamo.reset()  # the previous step's compiled graphs
        trainer.wrapped = torch.compile(trainer.model, mode=compile_mode)
    # the same micro-batch, already on the device, for every draw (a step draws ``grad_accum_steps`` of them)
    micro_batches = itertools.repeat(tree_map(lambda v: v.to(device) if torch.is_tensor(v) else v, batch))
    return (lambda: trainer._optimizer_step(micro_batches)), trainer


def sampling_call(name: str, profile, batch_size: int, device: torch.device):
    """A closure that evaluates the diffusion prior's clean-image estimate once on `batch_size` slices."""
    with seeded_init(profile.seed):
        prior = INFERENCE_STEPS[name](profile).objective.to(device).eval()
    size = profile.recon_image_size
    x_t = torch.randn(batch_size, 2, size, size, device=device)
    t = torch.full((batch_size,), profile.diffusion_timesteps // 2, dtype=torch.long, device=device)

    def call():
        with torch.no_grad():
            prior.predict_x0(x_t, t)

    return call, None


def attempt(name: str, kind: str, profile, batch_size: int, device, args, scratch: Path,
            compile_mode: str | None = None) -> dict:
    """One step of `name` at `batch_size`: its precision, the first call's seconds, counted FLOPs, timed steps and
    peak memory."""
    gc.collect()  # the previous step's model and optimizer state
    result = {}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        result["memory_before_bytes"] = torch.cuda.memory_allocated(device)
    try:
        if kind == "train":
            call, trainer = training_call(name, profile, batch_size, device, scratch, fp32=args.fp32,
                                          compile_mode=compile_mode)
            result["precision"] = "bf16 autocast" if trainer.use_bf16 else "fp32"
        else:
            call, trainer = sampling_call(name, profile, batch_size, device)
            result["precision"] = "fp32"
        synchronize(device)
        started = time.perf_counter()
        call()  # the first call allocates (and compiles); the counter's own overhead stays out of the timing
        synchronize(device)
        result["first_call_s"] = time.perf_counter() - started
        result["flops_counted"] = counted_flops(call)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = time_calls(call, device, args.warmup, args.steps)
        result["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    finally:
        trainer = call = None  # noqa: F841 (frees the model before the next step is built)
    result.update(step_s_median=statistics.median(times), step_s_min=min(times), steps_timed=len(times))
    return result


def measure_row(name: str, plan_rows: list[dict], plan_utilisation: float, profile, device, args, scratch: Path,
                peaks: dict, batch_size: int | None = None) -> dict:
    """Time, count and compare one step (all the plan's rows that use it share it: same network and batch) at the
    planned batch or `batch_size`. A batch that does not fit in the GPU's memory is halved until one does."""
    first = plan_rows[0]
    row = {"step": name, "chapters": sorted({r["chapter"] for r in plan_rows}),
           "labels": [r["label"] for r in plan_rows], "planned_batch": first["batch"], "kind": first["kind"],
           "parameters": first["parameters"], "planned_precision": first["precision"], "out_of_memory_at": []}
    batch_size = batch_size or first["batch"]
    while True:
        try:
            row.update(attempt(name, first["kind"], profile, batch_size, device, args, scratch))
            break
        except torch.cuda.OutOfMemoryError:
            row["out_of_memory_at"].append(batch_size)
            if batch_size == 1:
                row["status"] = "out of memory at batch 1"
                return row
            batch_size = (batch_size + 1) // 2
    row.update(status="ok", batch=batch_size)
    share = batch_size / first["batch"]  # the plan's per-step figures are linear in the batch
    row["flops_planned"] = first["flops_per_step"] * share
    row["predicted_peak_bytes"] = first["weight_bytes"] + first["activation_bytes"] * share
    rate = row["flops_counted"] / row["step_s_median"]
    row["achieved_flops_per_s"] = rate
    bf16 = row["precision"] != "fp32"
    row["mfu_datasheet"] = rate / (peaks["datasheet_bf16"] if bf16 else peaks["datasheet_fp32_tf32"])
    if bf16 and peaks.get("measured_bf16"):
        row["mfu_measured_bf16_rate"] = rate / peaks["measured_bf16"]
    if row["precision"].startswith(first["precision"]):  # the plan predicted this precision's time
        predicted = first["gpu_seconds"] / first["total_steps"] * share
        row["predicted_step_s"] = predicted
        # the share of the peak the FLOPs ran at, as the plan reckons it (its utilisation x its FLOPs' time)
        compute = first.get("compute_seconds", first["gpu_seconds"]) / first["total_steps"] * share
        row["reached_utilisation"] = plan_utilisation * compute / row["step_s_median"]
    # each run of the chapter on this card at the measured step time (data simulation not included)
    row["runs_s"] = {r["label"]: row["step_s_median"] / share * r["total_steps"] for r in plan_rows}
    if args.compile and first["kind"] == "train":
        try:
            compiled = attempt(name, "train", profile, batch_size, device, args, scratch, compile_mode=args.compile)
            compiled.update(status="ok", speedup=row["step_s_median"] / compiled["step_s_median"])
        except Exception as error:  # noqa: BLE001 (a step that does not compile is a finding, recorded as such)
            compiled = {"status": f"failed: {type(error).__name__}: {str(error)[:500]}"}
        row["compiled"] = compiled
    return row


def measure_profile(profile_name: str, args, device, peaks: dict, started: float) -> dict:
    profile = load_profile(profile_name)
    if args.plan_json and profile_name in args.plan_json:
        plan = json.loads(Path(args.plan_json[profile_name]).read_text())
    else:
        plan = plan_profile(profile, args.plan_gpu).to_dict()
    by_step: dict[str, list[dict]] = {}
    for planned in plan["rows"]:
        by_step.setdefault(planned["step"], []).append(planned)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, plan_rows in by_step.items():
            if args.only and name not in args.only:
                continue
            for batch_size in args.batches or [None]:
                if time.perf_counter() - started > args.budget_s:
                    rows.append({"step": name, "status": f"skipped: past the {args.budget_s:.0f} s budget"})
                    continue
                row = measure_row(name, plan_rows, plan["utilisation"], profile, device, args, Path(scratch), peaks,
                                  batch_size)
                rows.append(row)
                print(_line(row), flush=True)
    return {"profile": profile_name, "plan_gpu": plan["gpu"], "plan_gpu_name": plan["gpu_name"],
            "plan_utilisation": plan["utilisation"], "rows": rows}


def _line(row: dict) -> str:
    if row.get("status") != "ok":
        return f"  {row['step']:<22} {row.get('status')}"
    mfu = f"{row['mfu_datasheet']:.3f}"
    if "mfu_measured_bf16_rate" in row:
        mfu += f" ({row['mfu_measured_bf16_rate']:.3f} of the measured rate)"
    planned = (f"(planned {row['predicted_step_s'] * 1e3:9.1f}) reached {row['reached_utilisation']:.3f}"
               if "predicted_step_s" in row else "(planned for another precision)")
    line = (f"  {row['step']:<22} batch {row['batch']:>3} {row['precision']:<13} "
            f"{row['step_s_median'] * 1e3:9.1f} ms {planned}  MFU {mfu}  "
            f"peak {_gib(row['peak_memory_bytes'])} GiB (planned {_gib(row['predicted_peak_bytes'])})")
    c = row.get("compiled", {})
    if c.get("status", "").startswith("failed"):
        line += f"\n  {'':<22} compiled: {c['status'][:200]}"
    elif c:
        line += (f"\n  {'':<22} compiled: {c['step_s_median'] * 1e3:9.1f} ms ({c['speedup']:.2f}x), first step "
                 f"{c['first_call_s']:.1f} s, peak {_gib(c['peak_memory_bytes'])} GiB")
    return line


def _gib(value) -> str:
    return "-" if value is None else f"{value / 2**30:.1f}"


def compare(paths: list[str], plan_gpu: str) -> None:
    """Each recorded step (a ``gpu_steps*.json`` of this script) beside today's `brainfm plan` (no GPU needed): the
    measured over the predicted step time, and the memory peaks."""
    ratios = []
    for path in paths:
        record = json.loads(Path(path).read_text())
        plan = plan_profile(load_profile(record["profile"]), plan_gpu)
        planned = {row.step: row for row in plan.rows}
        print(f"{path}: {record['provenance']['device_name']}, commit {record['provenance']['git_commit']}, "
              f"{record['provenance']['date_utc']}; plan on {plan.gpu_name} at {plan.utilisation:.2f}")
        for row in record["rows"]:
            if row.get("status") != "ok":
                continue
            plan_row = planned[row["step"]]
            share = row["batch"] / plan_row.batch
            predicted = plan_row.gpu_seconds / plan_row.total_steps * share
            peak = plan_row.weight_bytes + plan_row.activation_bytes * share
            ratios.append(row["step_s_median"] / predicted)
            print(f"  {row['step']:<22} batch {row['batch']:>3} {row['precision']:<13} measured "
                  f"{row['step_s_median'] * 1e3:8.1f} ms, planned {predicted * 1e3:8.1f} ms"
                  f"{' (host)' if plan_row.host_bound else '       '} x{ratios[-1]:5.2f}; peak "
                  f"{_gib(row['peak_memory_bytes'])} GiB, planned {_gib(peak)}")
    if ratios:
        print(f"measured / planned step time: median {statistics.median(ratios):.2f}, "
              f"range {min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} steps")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["colab", "full"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--plan-gpu", default="h100", choices=sorted(GPUS),
                        help="the planner's GPU to compare with (an H200 has the H100's peaks)")
    parser.add_argument("--plan-json", nargs="*", default=[], metavar="PROFILE=FILE",
                        help="reuse `brainfm plan --json` output instead of planning here")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip the steps left after this many seconds")
    parser.add_argument("--fp32", action="store_true",
                        help="every step in fp32, as a T4 runs them (their memory is what the plan predicts); writes "
                             "gpu_steps_fp32.json")
    parser.add_argument("--only", nargs="+", metavar="STEP", help="these steps only (`plan.steps` names)")
    parser.add_argument("--batches", nargs="+", type=int, metavar="N",
                        help="each step at each of these batches instead of the planned one (how the step time "
                             "grows with the batch); writes gpu_steps_batches.json")
    parser.add_argument("--compile", metavar="MODE",
                        choices=("default", "reduce-overhead", "max-autotune-no-cudagraphs"),
                        help="also time each training step compiled by torch.compile in this mode; writes "
                             "gpu_steps_compiled-MODE.json")
    parser.add_argument("--out-dir", default="book/results")
    parser.add_argument("--commit", help="the commit measured (where the copy's .git is absent or not its own)")
    parser.add_argument("--compare", nargs="+", metavar="RECORDED_JSON",
                        help="no GPU: print recorded steps beside today's plan, and stop")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.compare, args.plan_gpu)
        return 0
    args.plan_json = dict(item.split("=", 1) for item in args.plan_json)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here: this benchmark measures GPU steps (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    peaks = {"datasheet_bf16": GPUS[args.plan_gpu].bf16, "datasheet_fp32_tf32": GPUS[args.plan_gpu].tf32,
             "measured_bf16": measured_matmul_rate(device)}
    provenance = environment(device)
    provenance["git_commit"] = args.commit or provenance["git_commit"]
    provenance["command"] = " ".join(["python", *sys.argv])
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        provenance.update(cuda=torch.version.cuda, capability=f"{properties.major}.{properties.minor}",
                          gpu_memory_bytes=properties.total_memory, cudnn=torch.backends.cudnn.version(),
                          cudnn_benchmark=torch.backends.cudnn.benchmark,
                          tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                          tf32_cudnn=torch.backends.cudnn.allow_tf32)
    print(f"{provenance['device_name']}; torch {torch.__version__}; commit {provenance['git_commit']}")
    if peaks["measured_bf16"]:
        print(f"bf16 {MATMUL_EDGE}^3 matrix product: {peaks['measured_bf16'] / 1e12:.0f} TFLOP/s "
              f"(datasheet {peaks['datasheet_bf16'] / 1e12:.0f})")
    for name in args.profiles:
        print(f"{name}:", flush=True)
        result = measure_profile(name, args, device, peaks, started)
        result.update(what="one Trainer step of each chapter run timed on a GPU beside `brainfm plan`'s prediction "
                           "(benchmarks/bench_gpu_steps.py); random inputs at the profile's sizes, no data loading",
                      provenance=provenance, peaks_flops_per_s=peaks, warmup=args.warmup, steps=args.steps,
                      compile_mode=args.compile)
        folder = Path(args.out_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        stem = ("gpu_steps" + ("_fp32" if args.fp32 else "") + ("_batches" if args.batches else "")
                + (f"_compiled-{args.compile}" if args.compile else ""))
        path = write_json(folder / f"{stem}.json", result)
        print(f"wrote {path}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
