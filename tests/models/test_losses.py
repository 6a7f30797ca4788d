"""Tests for brainfm_lite.models.losses: NT-Xent against a direct computation, its limits, gradients and the DDP
gather of negatives."""

import math
from pathlib import Path

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.models.losses import contrastive_diagnostics, nt_xent

DDP_SCRIPT = Path(__file__).with_name("ddp_nt_xent.py")


def reference_nt_xent(z1, z2, temperature):
    """NT-Xent with explicit loops over anchors: -log(exp(s_ip) / sum_{k != i} exp(s_ik)), averaged over 2B."""
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z1.shape[0]
    losses = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        similarities = [float(z[i] @ z[k]) / temperature for k in range(2 * n) if k != i]
        denominator = sum(math.exp(s) for s in similarities)
        losses.append(-math.log(math.exp(float(z[i] @ z[partner]) / temperature) / denominator))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_the_direct_computation(temperature):
    generator = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(4, 7, generator=generator), torch.randn(4, 7, generator=generator)
    assert nt_xent(z1, z2, temperature).item() == pytest.approx(reference_nt_xent(z1, z2, temperature), rel=1e-5)


def test_identical_views_of_distinct_embeddings_give_zero_loss_as_temperature_falls():
    z = torch.eye(4, 8)  # distinct, orthogonal embeddings
    losses = [nt_xent(z, z.clone(), t).item() for t in (1.0, 0.1, 0.01)]
    assert losses[0] > losses[1] > losses[2]
    assert losses[2] < 1e-6
    assert math.isfinite(nt_xent(z, z.clone(), 1e-4).item())  # logsumexp keeps tiny temperatures finite


def test_unrelated_views_cost_about_log_of_the_candidates():
    generator = torch.Generator().manual_seed(2)
    n = 64
    z1, z2 = torch.randn(n, 512, generator=generator), torch.randn(n, 512, generator=generator)
    # random high-dimensional vectors are nearly orthogonal: every candidate equally likely
    assert nt_xent(z1, z2, temperature=1.0).item() == pytest.approx(math.log(2 * n - 1), rel=0.02)


def test_gradient_reaches_both_views():
    generator = torch.Generator().manual_seed(3)
    z1 = torch.randn(3, 4, generator=generator, requires_grad=True)
    z2 = torch.randn(3, 4, generator=generator, requires_grad=True)
    nt_xent(z1, z2).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_nt_xent_rejects_bad_input():
    with pytest.raises(InputError):
        nt_xent(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(InputError):
        nt_xent(torch.randn(1, 4), torch.randn(1, 4))  # no negative
    with pytest.raises(InputError):
        nt_xent(torch.randn(3, 4), torch.randn(3, 4), temperature=0.0)


def test_two_processes_gather_negatives_into_the_loss_of_the_whole_batch(tmp_path, run_torchrun):
    """Each of 2 gloo processes holds 3 pairs; its loss and its rows' gradients equal those of one process on 6.

    The gathered loss is the global loss on every process; DDP averages parameter gradients over the 2 processes,
    so the gradient each process gets for its own rows must be world_size x the single-process gradient.
    """
    run_torchrun(DDP_SCRIPT, tmp_path)

    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 5, generator=generator).requires_grad_()
    z2 = torch.randn(6, 5, generator=generator).requires_grad_()
    loss = nt_xent(z1, z2, temperature=0.5)
    loss.backward()
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        rows = slice(3 * rank, 3 * rank + 3)
        assert result["loss"].item() == pytest.approx(loss.item(), rel=1e-6)
        torch.testing.assert_close(result["grad1"], 2 * z1.grad[rows])
        torch.testing.assert_close(result["grad2"], 2 * z2.grad[rows])


def test_diagnostics_tell_a_collapsed_embedding_from_a_spread_one():
    generator = torch.Generator().manual_seed(0)
    spread = torch.randn(16, 64, generator=generator)
    learning = contrastive_diagnostics(spread, spread + 0.1 * torch.randn(16, 64, generator=generator))
    assert learning["positive_similarity"] > 0.95 and abs(float(learning["negative_similarity"])) < 0.1
    assert learning["embedding_std"] == pytest.approx(1 / math.sqrt(64), rel=0.2)  # unit vectors spread evenly

    point = torch.ones(1, 64) + 0.01 * torch.randn(16, 64, generator=generator)  # every view at one point
    collapsed = contrastive_diagnostics(point, point.flip(0))
    assert collapsed["negative_similarity"] > 0.99 and collapsed["embedding_std"] < 0.01
