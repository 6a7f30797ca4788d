"""`brainfm plan`: measured FLOPs and activations of a step, the per-chapter rows, and the verdict against a GPU and
a budget. Everything runs on the smoke profile with its image sizes at the smallest the networks take (`SMALL`)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

from brainfm_lite.cli import main
from brainfm_lite.config import load_profile
from brainfm_lite.plan import (
    GPUS,
    HOST_SECONDS_PER_OPERATION,
    ModelStep,
    format_plan,
    measure_step,
    measure_steps,
    plan_profile,
    write_plan_json,
)
from brainfm_lite.plan.runs import planned_runs
from brainfm_lite.plan.scaling import measure_per_unit
from brainfm_lite.plan.steps import TRAINING_STEPS

# image sizes at the smallest the networks take, and narrower CNNs and dense decoder: the plan's mechanics, fast
SMALL = {"cbf_image_size": 32, "contrastive_image_size": 32, "recon_image_size": 32, "cnn_widths": (4, 8, 16, 32),
         "contrastive_cnn_widths": (4, 8, 16, 32), "dense_feature_size": 4}
# the runs every plan has, by chapter: (chapter, step)
CHAPTER_RUNS = {(4, "mae_cbf"), (5, "simclr_cbf"), (5, "finetune_mae_cbf"), (5, "finetune_simclr_cbf"),
                (6, "simclr"), (6, "mae_structural"), (7, "seqinv"), (7, "dense_segmentation"),
                (8, "diffusion_prior"), (8, "supervised_unet"), (8, "posterior_sampling")}


@pytest.fixture(scope="module")
def profile():
    return dataclasses.replace(load_profile("smoke", device="cpu"), **SMALL)


@pytest.fixture(scope="module")
def measurements(profile):
    return measure_steps(profile)


def _step(module: nn.Module, x: torch.Tensor) -> ModelStep:
    """A training step of `module` on `x` whose loss is the output's sum."""
    return ModelStep(module, {"x": x}, config=None, forward=lambda: module(x).sum())


def test_flops_of_a_conv3d_and_a_linear_equal_the_analytic_count():
    """Forward 2 x multiply-adds; backward the weight gradient (the same again), no input gradient (the input does
    not require one); biases and sums are not counted."""
    conv = nn.Conv3d(2, 5, kernel_size=3, padding=1)
    cost = measure_step(_step(conv, torch.randn(1, 2, 8, 8, 8)), backward=True)
    forward = 2 * 5 * 2 * 27 * 8**3
    assert cost.flops == 2 * forward
    assert cost.convolution_flops == cost.flops and cost.matmul_flops == 0
    linear = nn.Linear(16, 7)
    cost = measure_step(_step(linear, torch.randn(3, 16)), backward=True)
    assert cost.flops == 2 * (2 * 3 * 16 * 7)
    assert cost.parameters == 16 * 7 + 7
    assert measure_step(_step(linear, torch.randn(3, 16)), backward=False).flops == 2 * 3 * 16 * 7


def test_fused_attention_on_the_cpu_counts_the_flops_of_its_two_products():
    """scaled_dot_product_attention (the diffusion prior's attention) runs a fused CPU kernel that torch's counter
    does not know: counted here as the two products it replaces; its backward as their gradients plus the scores
    product again (a fused kernel recomputes the scores rather than keep them: torch's formula for the GPU's)."""
    q, k, v = (torch.randn(2, 3, 10, 4, requires_grad=True) for _ in range(3))

    def fused():
        return nn.functional.scaled_dot_product_attention(q, k, v).sum()

    def explicit():
        return (torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v).sum()

    counts = {backward: [measure_step(ModelStep(nn.Identity(), {}, config=None, forward=f), backward=backward).flops
                         for f in (fused, explicit)] for backward in (False, True)}
    scores = 2 * (2 * 3) * 10 * 10 * 4  # q @ k^T: batch x heads, 10 x 4 by 4 x 10
    assert counts[False] == [2 * scores, 2 * scores]
    assert counts[True][0] == counts[True][1] + scores


def test_activation_memory_grows_linearly_with_batch():
    """The bytes saved for the backward pass: exactly proportional to the batch for a conv net, within 2 % for the
    MAE (random masking keeps the same number of tokens per map)."""
    net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 2, 3, padding=1))
    one, four = (measure_step(_step(net, torch.randn(b, 1, 8, 8, 8)), backward=True) for b in (1, 4))
    assert one.activation_bytes > 0
    assert four.activation_bytes == 4 * one.activation_bytes
    # without a backward pass: the peak of live tensors, the first conv's output beside the ReLU's (4 x 8^3 floats)
    one, four = (measure_step(_step(net, torch.randn(b, 1, 8, 8, 8)), backward=False) for b in (1, 4))
    assert one.activation_bytes == 2 * (4 * 8**3 * 4)
    assert four.activation_bytes == 4 * one.activation_bytes
    profile = dataclasses.replace(load_profile("smoke", device="cpu"), **SMALL)
    step = TRAINING_STEPS["mae_cbf"](profile)
    sizes = {}
    for batch in (1, 3):
        step.batch = {"image": torch.randn(batch, 1, *(profile.cbf_image_size,) * 3)}
        sizes[batch] = measure_step(step).activation_bytes
    assert sizes[3] / sizes[1] == pytest.approx(3, rel=0.02)


def test_a_step_counts_its_operations_whatever_its_batch_and_size():
    """Operations dispatched (what the host issues one by one to a GPU): a Conv3d + ReLU + Conv3d forward is 3, its
    backward adds the gradients; the count does not change with the batch or the image size, and survives the
    scaling from a reduced size."""
    net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 2, 3, padding=1))
    forward = measure_step(_step(net, torch.randn(1, 1, 8, 8, 8)), backward=False).operations
    assert 3 <= forward <= 8  # the three layers (the sum and the dtype casts of the step add a few)
    counts = {measure_step(_step(net, torch.randn(b, 1, s, s, s)), backward=True).operations
              for b, s in ((1, 8), (4, 8), (2, 16))}
    assert len(counts) == 1 and counts.pop() > forward
    profile = dataclasses.replace(load_profile("smoke", device="cpu"), **{**SMALL, "recon_image_size": 64})
    assert measure_per_unit(profile, "supervised_unet", max_flops=1.0).per_unit.operations == \
        measure_per_unit(profile, "supervised_unet", max_flops=float("inf")).per_unit.operations > 100


def test_a_step_of_many_small_operations_is_bound_by_the_host(profile, measurements):
    """On a GPU fast enough, a step takes its operations x HOST_SECONDS_PER_OPERATION, not its FLOPs' time; at the
    GPU's own utilisation (the H100's measured one) the FLOPs' time counts where it is longer."""
    fast = plan_profile(profile, "h100", utilisation=1e6, measurements=measurements)
    for row in fast.rows:
        assert row.host_bound
        assert row.gpu_seconds == pytest.approx(row.operations * HOST_SECONDS_PER_OPERATION * row.total_steps)
    plan = plan_profile(profile, "h100", measurements=measurements)
    assert plan.utilisation == GPUS["h100"].utilisation and plan.utilisation_source.startswith("measured")
    for row in plan.rows:
        assert row.gpu_seconds == pytest.approx(max(row.compute_seconds, row.host_seconds))
    assert "^" in format_plan(fast) and f"x {HOST_SECONDS_PER_OPERATION * 1e6:.0f} us" in format_plan(plan)


def test_a_gpu_run_simulates_its_cbf_maps_on_the_gpu_where_that_was_measured(profile, measurements):
    """On an H100 the CBF maps cost the GPU's measured seconds a map (not divided among the CPU workers); on a T4,
    whose batched path is unmeasured, the numpy cost on the workers."""
    from brainfm_lite.plan.data_costs import ASL_MAP_COSTS, ASL_MAP_GPU_COSTS, at_spacing
    from brainfm_lite.plan.runs import workers

    on_h100 = plan_profile(profile, "h100", measurements=measurements).chapters[0]
    gpu_cost = at_spacing((ASL_MAP_GPU_COSTS["h100"],), profile.spacing_mm).core_seconds
    assert on_h100.data_seconds == pytest.approx(profile.n_asl_subjects * gpu_cost)
    on_t4 = plan_profile(profile, "t4", measurements=measurements).chapters[0]
    numpy_cost = at_spacing(ASL_MAP_COSTS, profile.spacing_mm).core_seconds
    assert on_t4.data_seconds == pytest.approx(profile.n_asl_subjects * numpy_cost / workers(profile))


def test_a_step_measured_smaller_and_scaled_matches_the_real_size(profile):
    """Measured at a reduced size and scaled, a step has the FLOPs of a measurement at the real size and about its
    activations: the supervised U-Net (convolutions only, scaled linearly from 32^2 to 64^2), and the "small"
    diffusion prior's sampling step (attention at its lowest level, whose maps grow with the square of the pixels;
    measured at 32^2 and 64^2, extrapolated tensor by tensor to 128^2)."""
    at_64 = dataclasses.replace(profile, recon_image_size=64)
    real = measure_per_unit(at_64, "supervised_unet", max_flops=float("inf"))
    scaled = measure_per_unit(at_64, "supervised_unet", max_flops=1.0)
    assert not real.scaled and scaled.scaled and scaled.measured_size == 32
    assert scaled.per_unit.flops == pytest.approx(real.per_unit.flops, rel=1e-6)
    assert scaled.per_unit.activation_bytes == pytest.approx(real.per_unit.activation_bytes, rel=0.05)
    attention = dataclasses.replace(profile, recon_image_size=128, diffusion_preset="small")
    real = measure_per_unit(attention, "posterior_sampling", max_flops=float("inf"))
    scaled = measure_per_unit(attention, "posterior_sampling", max_flops=1.0)
    assert scaled.measured_size == 64 and real.per_unit.attention_flops > 0
    assert scaled.per_unit.flops == pytest.approx(real.per_unit.flops, rel=1e-3)
    assert scaled.per_unit.activation_bytes == pytest.approx(real.per_unit.activation_bytes, rel=0.02)


def test_the_plan_has_a_row_per_chapter_run_and_prints_them(profile, measurements, tmp_path):
    plan = plan_profile(profile, "t4", measurements=measurements)
    assert [(row.chapter, row.step, row.label) for row in plan.rows] == \
        [(run.chapter, run.name, run.label) for run in planned_runs(profile)]
    assert CHAPTER_RUNS <= {(row.chapter, row.step) for row in plan.rows}
    assert [chapter.chapter for chapter in plan.chapters] == [4, 5, 6, 7, 8]
    for row in plan.rows:
        assert row.parameters > 0 and row.flops_per_step > 0 and row.activation_bytes > 0
        assert row.total_flops == pytest.approx(row.flops_per_step * row.total_steps)
        assert row.precision == "fp32"  # a T4 has no bf16: the Trainer runs fp32
    sampling = plan.rows[-1]
    assert sampling.kind == "sample" and sampling.steps == profile.ddim_steps
    text = format_plan(plan)
    assert all(row.label in text for row in plan.rows)
    written = json.loads(write_plan_json(plan, tmp_path / "plan.json").read_text())
    assert len(written["rows"]) == len(plan.rows) and written["gpu"] == "t4"


def test_the_t4_verdict_flips_when_a_budget_is_exceeded(profile, measurements):
    """A budget above every chapter's time fits; one below it does not, and the plan names the steps (and batch,
    for memory) that would fit, computed from the profile's own values."""
    roomy = plan_profile(profile, "t4", budget_s=1e9, measurements=measurements)
    assert all(chapter.fits and chapter.changes == [] for chapter in roomy.chapters)
    # at smoke sizes the T4 steps take milliseconds and simulating the maps dominates: fewer maps
    data_bound = plan_profile(profile, "t4", budget_s=roomy.chapters[0].seconds / 4, measurements=measurements)
    chapter = data_bound.chapters[0]
    assert chapter.fits_time is False and not chapter.fits
    assert _new_value(chapter.changes, "n_asl_subjects") < profile.n_asl_subjects
    # a GPU a million times slower makes the steps dominate: fewer steps
    slow = plan_profile(profile, "t4", budget_s=1e9, utilisation=1e-6, measurements=measurements)
    budget = (slow.chapters[0].data_seconds + slow.chapters[0].run_seconds / 4)
    step_bound = plan_profile(profile, "t4", budget_s=budget, utilisation=1e-6, measurements=measurements)
    assert step_bound.chapters[0].fits_time is False
    assert 0 < _new_value(step_bound.chapters[0].changes, "mae_steps") < profile.mae_steps
    mae = roomy.rows[0]
    room_for_one = mae.weight_bytes + 1.5 * mae.activation_bytes_per_unit
    small_memory = plan_profile(profile, "t4", memory_bytes=room_for_one, measurements=measurements)
    assert small_memory.chapters[0].fits_memory is False
    assert any(f"mae_batch_size {profile.mae_batch_size} -> 1" in change for change in small_memory.chapters[0].changes)


def _new_value(changes: list[str], name: str) -> int:
    """The value a plan's changes propose for the profile field `name` ("name old -> new")."""
    line = next(change for change in changes if f"{name} " in change)
    return int(line.split(f"{name} ")[1].split(" -> ")[1].split()[0].rstrip(";"))


def test_plan_command_takes_a_profile_with_overrides_and_writes_json(tmp_path, capsys):
    sets = [arg for key, value in SMALL.items()
            for arg in ("--set", f"{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}")]
    assert main(["plan", "--profile", "smoke", *sets, "--gpu", "a100", "--json", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "A100" in out and "07_seqinv" in out
    rows = json.loads((tmp_path / "plan.json").read_text())["rows"]
    assert {row["precision"] for row in rows} == {"fp32", "bf16"}  # pretraining asks for bf16, fine-tuning not
    assert main(["plan", "--profile", "smoke", "--set", "mae_steps=-1"]) == 2
