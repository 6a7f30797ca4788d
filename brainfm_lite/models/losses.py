"""The contrastive loss of SimCLR and the sequence-invariant objective: NT-Xent, with negatives gathered under DDP.

NT-Xent (Chen et al. 2020) over a batch of B pairs, with z the 2B projections scaled to unit length and tau the
temperature::

    s_ij = z_i . z_j / tau
    loss_i = -s_{i,p(i)} + log sum_{k != i} exp(s_ik)        p(i): the other view of the same volume
    loss = mean over the 2B anchors

Example:
    >>> z1, z2 = torch.randn(8, 64), torch.randn(8, 64)     # projections of the two views of 8 volumes
    >>> nt_xent(z1, z2, temperature=0.5)                     # about log(2 * 8 - 1) for unrelated views
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from brainfm_lite.errors import InputError


class _GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns this process's share of the summed gradient.

    Every process computes the same global loss from the gathered tensor, so the gradient of the local rows is
    the sum of what every process's loss sends to them (an all-reduce); DDP's averaging of the parameter gradients
    then gives exactly the gradient of the global loss.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        ctx.rows, ctx.rank = local.shape[0], dist.get_rank()
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_batch(z: torch.Tensor) -> torch.Tensor:
    """The rows of `z` [B, D] of every process, in rank order [W*B, D] (unchanged outside DDP); gradients flow."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return z
    return _GatherWithGradient.apply(z)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy of SimCLR, the mean over all 2B views.

    Under DDP (an initialised process group with more than one process) the projections of every process are
    gathered first, so each view's negatives are all the other views of the global batch; every process then
    returns the same global loss, and gradients reach the local projections.

    Args:
        z1: [B, D] projections of the first views.
        z2: [B, D] projections of the second views; row i is the partner of row i of `z1`.
        temperature: tau > 0; smaller values sharpen the softmax over similarities.

    Returns:
        Scalar loss (float32). Its value lies between 0 (every view far more similar to its partner than to
        anything else) and about log(2B - 1) for unrelated views.
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise InputError(f"nt_xent needs two [B, D] tensors of one shape; got {tuple(z1.shape)}, {tuple(z2.shape)}")
    if not temperature > 0:
        raise InputError(f"temperature must be positive; got {temperature}")
    z1, z2 = gather_batch(z1), gather_batch(z2)
    n = z1.shape[0]
    if n < 2:
        raise InputError("nt_xent needs at least 2 pairs: with one pair there is no negative")
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)  # [2N, D]
    similarity = z @ z.T / temperature  # [2N, 2N] cosine similarity / tau
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))  # a view is not its own negative
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return nn.functional.cross_entropy(similarity, partner)  # log-softmax via logsumexp: stable at small tau


@torch.no_grad()
def contrastive_diagnostics(z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
    """How a contrastive run is doing, beyond its loss: partner and negative similarity, and the embedding's spread.

    A collapsed run maps every view to one point: partner AND negative similarity approach 1, the loss sits at
    its chance value log(2B - 1), and the per-dimension standard deviation of the unit-length embeddings falls to 0.
    A learning run keeps negatives well below partners and the per-dimension SD near 1 / sqrt(D) (uniform spread).

    Args:
        z1, z2: [B, D] projections of the two views of B volumes (row i of both: one volume).

    Returns:
        Detached float32 scalars: "positive_similarity" (mean cosine similarity of partners, in [-1, 1]),
        "negative_similarity" (mean over pairs of different volumes), "embedding_std" (mean over the D dimensions
        of the SD across the 2B unit-length embeddings).
    """
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)  # [2B, D]
    n = z1.shape[0]
    similarity = z @ z.T
    same_volume = torch.eye(n, dtype=torch.bool, device=z.device).repeat(2, 2)  # self and partner
    return {"positive_similarity": (z[:n] * z[n:]).sum(dim=1).mean(),
            "negative_similarity": similarity[~same_volume].mean(),
            "embedding_std": z.std(dim=0).mean()}
