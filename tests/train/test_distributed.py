"""Tests for brainfm_lite.train.distributed and the Trainer under DDP: two CPU processes (gloo) via torchrun."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from brainfm_lite.models.encoders import ViTEncoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train import distributed as dist


@pytest.fixture(scope="module")
def ddp_runs(toy, tmp_path_factory, run_torchrun):
    """The three runs of toy_problem.main(), trained by two processes with 2 samples each per micro-step."""
    out = tmp_path_factory.mktemp("ddp")
    run_torchrun(toy.__file__, "--out", out, "--batch-size", 2)
    return out


def test_two_processes_match_one_process_with_the_same_global_batch(toy, ddp_runs, tmp_path):
    """Two processes with batch 2 each end with the weights of one process with batch 4, to float32 rounding.

    "Matches" needs the same function of the same data: the Trainer deals every global batch out to the processes
    (one process with batch 4 sees exactly the samples the two see together), and the objective runs without
    random masks or dropout here, because each process draws its own random numbers (seeded by rank, so that
    processes do not repeat each other's masks): with them the two runs would agree in distribution only.

    Not bitwise: DDP all-reduces (sums) the two processes' gradients and divides by 2, while one process sums all
    four samples in one reduction; float sums in another order differ in the last bits, and 12 AdamW steps carry
    that on. Measured: max abs difference 1.5e-8 on weights of size ~0.1. Tolerance: rtol 1e-5, atol 1e-6.
    """
    single, objective = toy.train(tmp_path, toy.toy_config(batch_size=4), random_forward=False)
    ddp_weights = load_file(ddp_runs / "ddp/checkpoints/step_0000012/model.safetensors")
    assert ddp_weights.keys() == objective.state_dict().keys()  # saved from the bare module: no "module." prefix
    for name, tensor in objective.state_dict().items():
        torch.testing.assert_close(ddp_weights[name], tensor, rtol=1e-5, atol=1e-6)
    ddp_metrics = [json.loads(line) for line in (ddp_runs / "ddp/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in ddp_metrics] == [r["step"] for r in single.history]  # written once, by rank 0
    assert [r["loss"] for r in ddp_metrics] == pytest.approx([r["loss"] for r in single.history], rel=1e-5)


def test_each_process_trains_on_a_disjoint_shard_of_every_epoch(ddp_runs):
    """32 samples, 2 processes of batch 2: an epoch is 8 steps; 12 steps are one epoch and half of the next."""
    seen = [json.loads((ddp_runs / f"ddp/seen_rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [len(steps) for steps in seen] == [12, 12] and all(len(batch) == 2 for steps in seen for batch in steps)
    for epoch, steps in ((0, slice(0, 8)), (1, slice(8, 12))):
        shards = [[i for batch in per_rank[steps] for i in batch] for per_rank in seen]
        assert not set(shards[0]) & set(shards[1]), f"epoch {epoch}: a sample trained by both processes"
        assert all(len(set(shard)) == len(shard) for shard in shards), f"epoch {epoch}: a sample seen twice"
    first_epoch = {i for per_rank in seen for batch in per_rank[:8] for i in batch}
    assert first_epoch == set(range(32))  # together the processes cover the whole epoch
    assert [i for batch in seen[0][8:] for i in batch] != [i for batch in seen[0][:4] for i in batch]  # reshuffled


def test_stopped_and_resumed_ddp_run_equals_the_uninterrupted_one_bitwise(ddp_runs):
    """With random masks and dropout drawn on each process, and grad accumulation through DDP's no_sync: the
    checkpoint holds the generators of both processes, so the resumed run continues exactly."""
    for name in ("model", "ema", "optimizer"):
        uninterrupted = load_file(ddp_runs / f"uninterrupted/checkpoints/step_0000008/{name}.safetensors")
        resumed = load_file(ddp_runs / f"resumed/checkpoints/step_0000008/{name}.safetensors")
        assert all(torch.equal(resumed[key], tensor) for key, tensor in uninterrupted.items()), name
    rng = load_file(ddp_runs / "resumed/checkpoints/step_0000008/rng.safetensors")
    assert {"rank0.torch", "rank1.torch"} <= rng.keys()
    assert not torch.equal(rng["rank0.torch"], rng["rank1.torch"])  # each process has its own stream


def test_two_processes_pretrain_filling_one_cache_once_and_saving_one_encoder(tmp_path, run_torchrun):
    """`brainfm pretrain` under torchrun: the processes split the subjects to simulate, then one writes the encoder."""
    run_torchrun(Path(__file__).with_name("ddp_pretrain.py"), "--out", tmp_path)
    simulated = [json.loads((tmp_path / f"simulated_rank{rank}.json").read_text()) for rank in (0, 1)]
    assert simulated[0] and simulated[1] and not set(simulated[0]) & set(simulated[1])
    cached = sorted((tmp_path / "run/t1_cache").glob("*.npz"))
    assert len(cached) == len(simulated[0]) + len(simulated[1]) == 3  # the pool, each subject simulated once
    encoder = from_pretrained(tmp_path / "run/encoder")
    assert json.loads((tmp_path / "run/encoder/config.json").read_text())["metadata"]["steps"] == 2
    assert encoder(torch.zeros(1, 1, 32, 32, 32)).shape == (1, encoder.feature_dim)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoints", "encoder", "metrics.jsonl",
                                                                      "t1_cache"]  # no temporary folder left
    assert isinstance(from_pretrained(tmp_path / "run_mae/encoder"), ViTEncoder)  # MONAI's ViT trains under DDP


def test_single_process_helpers_answer_for_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.setup_distributed() is False
    assert (dist.world_size(), dist.rank(), dist.is_main()) == (1, 0, True)
    value = torch.tensor([1.0, 2.0])
    assert torch.equal(dist.all_reduce_mean(value), value)
    assert dist.all_gather_objects({"a": 1}) == [{"a": 1}]
    dist.barrier()
    assert dist.process_device("cpu") == torch.device("cpu")
