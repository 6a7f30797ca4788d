"""Tests for brainfm_lite.train.loop: the Trainer learns, logs, checkpoints and resumes exactly.

The toy objective (toy_problem.py) masks voxels with ``torch.rand`` and uses dropout, so an exact resume needs the
random generators restored, not only the weights.
"""

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from brainfm_lite.errors import InputError
from brainfm_lite.train import TrainConfig, Trainer, lr_at


def read_metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def without_timing(records):
    return [{key: value for key, value in record.items() if key not in ("seconds", "samples_per_s")}
            for record in records]


def test_loss_decreases_on_a_learnable_problem(toy, tmp_path):
    result, _ = toy.train(tmp_path, toy.toy_config(max_steps=24, lr=1e-2, log_every=3))
    losses = [record["loss"] for record in result.history]
    assert sum(losses[-2:]) / 2 < 0.6 * sum(losses[:2]) / 2  # about 0.4 with seeds 0, 1 and 2


def test_metrics_lines_hold_step_loss_lr_and_the_objective_metrics(toy, tmp_path):
    config = toy.toy_config(max_steps=7, log_every=3)
    result, _ = toy.train(tmp_path, config)
    records = read_metrics(tmp_path)
    assert [record["step"] for record in records] == [3, 6, 7]  # every 3 steps, and the last one
    assert records == result.history
    for record in records:
        assert record["lr"] == pytest.approx(lr_at(record["step"] - 1, config))  # the rate that step used
        assert record["samples_per_s"] > 0 and record["grad_norm"] > 0 and record["seconds"] > 0
        assert 0.3 < record["masked_fraction"] < 0.7
    assert result.last_loss == records[-1]["loss"]
    assert result.step == 7


def test_final_checkpoint_holds_the_trained_bare_model(toy, tmp_path):
    result, objective = toy.train(tmp_path, toy.toy_config(max_steps=4))
    assert result.checkpoint == tmp_path / "checkpoints" / "step_0000004"
    saved = load_file(result.checkpoint / "model.safetensors")
    assert saved.keys() == objective.state_dict().keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in objective.state_dict().items())


def test_the_ema_of_a_short_run_follows_the_trained_weights_not_the_start(toy, tmp_path):
    """The Trainer warms the EMA decay up: after 8 steps at decay 0.999 the average keeps 1/10 * 2/11 * ... * 8/17
    (4e-5) of the initial weights, not 0.999^8 = 99 %."""
    initial = toy.MaskedVoxelObjective(0).state_dict()
    result, trained = toy.train(tmp_path, toy.toy_config(max_steps=8, lr=1e-2, ema_decay=0.999))
    ema = load_file(result.checkpoint / "ema.safetensors")
    for name, weight in trained.state_dict().items():
        if weight.is_floating_point() and not torch.equal(weight, initial[name]):
            # nearer the trained weights than the start (without warm-up it would sit at the start)
            assert (ema[name] - weight).norm() < 0.5 * (initial[name] - weight).norm()


@pytest.mark.parametrize("options", [dict(), dict(grad_accum_steps=2, ema_decay=0.9)],
                         ids=["plain", "accumulation-and-ema"])
def test_stopped_and_resumed_run_equals_the_uninterrupted_run_bitwise(toy, tmp_path, options):
    # 12 steps over 3 epochs of the data (grad accumulation 2: 6 epochs); the crash comes mid-epoch, after step 6.
    config = toy.toy_config(max_steps=12, checkpoint_every=3, **options)
    uninterrupted, objective_a = toy.train(tmp_path / "a", config)
    with pytest.raises(toy.ToyCrash):
        toy.train(tmp_path / "b", config, crash_after_step=6)
    assert (tmp_path / "b/checkpoints/latest").read_text().strip() == "step_0000006"

    # A new process would start with other generator states and build a new model: a different initialisation and
    # reseeded generators prove that everything comes from the checkpoint.
    torch.manual_seed(123)
    resumed, objective_b = toy.train(tmp_path / "b", config, init_seed=1, resume=True)
    assert resumed.step == 12
    for name, tensor in objective_a.state_dict().items():
        assert torch.equal(objective_b.state_dict()[name], tensor), name
    if config.ema_decay is not None:
        ema_a = load_file(uninterrupted.checkpoint / "ema.safetensors")
        ema_b = load_file(resumed.checkpoint / "ema.safetensors")
        assert all(torch.equal(ema_b[name], tensor) for name, tensor in ema_a.items())
    optimizer_a = load_file(uninterrupted.checkpoint / "optimizer.safetensors")
    optimizer_b = load_file(resumed.checkpoint / "optimizer.safetensors")
    assert all(torch.equal(optimizer_b[name], tensor) for name, tensor in optimizer_a.items())

    # metrics.jsonl continues where the checkpoint was: each step once, the same losses as the uninterrupted run.
    assert without_timing(read_metrics(tmp_path / "b")) == without_timing(read_metrics(tmp_path / "a"))
    assert without_timing(resumed.history) == without_timing(uninterrupted.history)


def test_resume_after_a_crash_while_checkpointing(toy, tmp_path, monkeypatch):
    config = toy.toy_config(max_steps=6, checkpoint_every=2)
    _, objective_a = toy.train(tmp_path / "a", config)

    import brainfm_lite.train.checkpoint as checkpoint_module
    real_save_model = checkpoint_module.save_model

    def crash_at_step_4(model, filename, *args, **kwargs):
        real_save_model(model, filename, *args, **kwargs)
        if ".step_0000004.tmp-" in filename:
            raise KeyboardInterrupt  # the user stops the run half-way through writing step 4
    monkeypatch.setattr(checkpoint_module, "save_model", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        toy.train(tmp_path / "b", config)
    monkeypatch.undo()
    checkpoints = sorted(path.name for path in (tmp_path / "b/checkpoints").iterdir())
    assert checkpoints == ["latest", "step_0000002"]

    resumed, objective_b = toy.train(tmp_path / "b", config, init_seed=1, resume=True)
    assert all(torch.equal(objective_b.state_dict()[name], t) for name, t in objective_a.state_dict().items())
    assert [r["step"] for r in read_metrics(tmp_path / "b")] == [2, 4, 6]


def test_resume_without_a_checkpoint_starts_from_scratch(toy, tmp_path):
    config = toy.toy_config(max_steps=3)
    _, fresh = toy.train(tmp_path / "a", config)
    _, resumed = toy.train(tmp_path / "b", config, resume=True)
    assert all(torch.equal(resumed.state_dict()[name], t) for name, t in fresh.state_dict().items())


def test_resuming_a_finished_run_changes_nothing(toy, tmp_path):
    config = toy.toy_config(max_steps=4)
    first, objective = toy.train(tmp_path, config)
    again, restored = toy.train(tmp_path, config, init_seed=3, resume=first.checkpoint)
    assert again.step == 4 and again.checkpoint == first.checkpoint
    assert all(torch.equal(restored.state_dict()[name], t) for name, t in objective.state_dict().items())
    assert [r["step"] for r in read_metrics(tmp_path)] == [2, 4]


def test_resume_with_another_batch_size_is_refused(toy, tmp_path):
    toy.train(tmp_path, toy.toy_config(max_steps=2))
    with pytest.raises(InputError, match="batch_size 4"):
        toy.train(tmp_path, toy.toy_config(max_steps=4, batch_size=2), resume=True)


def test_bf16_on_a_cpu_without_amx_trains_in_fp32_and_says_so(toy, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("brainfm_lite.train.loop._cpu_has_amx_bf16", lambda: False)
    caplog.set_level(logging.INFO, logger="brainfm_lite.train.loop")
    _, fp32 = toy.train(tmp_path / "fp32", toy.toy_config(max_steps=2))
    _, bf16 = toy.train(tmp_path / "bf16", toy.toy_config(max_steps=2, precision="bf16"))
    # said at INFO: the expected CPU fallback must not reach stderr (and the book's pages) as a warning
    assert [r.levelname for r in caplog.records if "bf16 asked for" in r.getMessage()] == ["INFO"]
    assert all(torch.equal(bf16.state_dict()[name], t) for name, t in fp32.state_dict().items())


def test_bf16_on_a_cpu_with_amx_autocasts_when_cpu_bf16_allows_it(toy, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("brainfm_lite.train.loop._cpu_has_amx_bf16", lambda: True)
    caplog.set_level(logging.INFO, logger="brainfm_lite.train.loop")
    _, fp32 = toy.train(tmp_path / "fp32", toy.toy_config(max_steps=2))
    _, not_allowed = toy.train(tmp_path / "off", toy.toy_config(max_steps=2, precision="bf16"))
    assert "bf16 asked for" in caplog.text  # cpu_bf16 is off by default
    assert all(torch.equal(not_allowed.state_dict()[name], t) for name, t in fp32.state_dict().items())
    caplog.clear()
    _, bf16 = toy.train(tmp_path / "bf16", toy.toy_config(max_steps=2, precision="bf16", cpu_bf16=True))
    assert "bf16 autocast" in caplog.text
    assert not all(torch.equal(bf16.state_dict()[name], t) for name, t in fp32.state_dict().items())


def test_summary_line_names_parameters_device_world_and_global_batch(toy, tmp_path, caplog, capsys):
    """Logged at INFO without a progress bar (the book's pages stay free of it), printed with one."""
    caplog.set_level(logging.INFO, logger="brainfm_lite.train.loop")
    _, objective = toy.train(tmp_path, toy.toy_config(max_steps=1, grad_accum_steps=2))
    summary = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Trainer: "))
    n_parameters = sum(parameter.numel() for parameter in objective.parameters())
    for part in (f"{n_parameters:,} parameters", "cpu", "world size 1", "global batch 8", "fp32"):
        assert part in summary
    capsys.readouterr()
    toy.train(tmp_path / "watched", toy.toy_config(max_steps=1, grad_accum_steps=2, progress=True))
    assert capsys.readouterr().out.startswith("Trainer: ")


def test_objective_without_a_loss_and_too_small_dataset_raise_input_error(toy, tmp_path):
    class NoLoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))

        def forward(self, batch):
            return batch["volume"].mean() * self.weight

    with pytest.raises(InputError, match="'loss'"):
        Trainer(NoLoss(), toy.SmoothVolumes(8), toy.toy_config(max_steps=1), out_dir=tmp_path).fit()
    with pytest.raises(InputError, match="no full batch"):
        Trainer(NoLoss(), toy.SmoothVolumes(3), toy.toy_config(max_steps=1), out_dir=tmp_path)


def test_loader_workers_give_the_same_batches_as_the_main_process(toy, tmp_path):
    _, in_process = toy.train(tmp_path / "a", toy.toy_config(max_steps=3))
    _, with_workers = toy.train(tmp_path / "b", toy.toy_config(max_steps=3, num_workers=1))
    assert all(torch.equal(with_workers.state_dict()[name], t) for name, t in in_process.state_dict().items())


def test_tuple_batches_from_a_tensor_dataset_reach_the_objective(tmp_path):
    class Regression(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)

        def forward(self, batch):
            inputs, targets = batch  # TensorDataset yields (x, y); the default collate keeps the pair
            return {"loss": torch.nn.functional.mse_loss(self.linear(inputs), targets)}

    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 3, generator=generator)
    dataset = torch.utils.data.TensorDataset(inputs, inputs @ torch.tensor([[1.0], [-2.0], [0.5]]))
    config = TrainConfig(max_steps=30, batch_size=8, lr=0.2, log_every=10, progress=False, device="cpu")
    result = Trainer(Regression(), dataset, config, out_dir=tmp_path).fit()
    assert result.history[-1]["loss"] < 0.1 * result.history[0]["loss"]
