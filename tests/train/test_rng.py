"""Tests for brainfm_lite.train.rng.seeded_init: initial weights fixed by a seed, global generators untouched."""

import torch

from brainfm_lite.train.rng import seeded_init


def test_the_same_seed_gives_the_same_weights_whatever_ran_before():
    torch.manual_seed(1)
    with seeded_init(5):
        first = torch.nn.Linear(4, 3).weight.detach().clone()
    torch.rand(10)
    with seeded_init(5):
        second = torch.nn.Linear(4, 3).weight.detach().clone()
    with seeded_init(6):
        other = torch.nn.Linear(4, 3).weight.detach().clone()
    torch.testing.assert_close(first, second)
    assert not torch.equal(first, other)


def test_the_same_seed_gives_the_weights_of_a_global_manual_seed():
    torch.manual_seed(5)
    expected = torch.nn.Linear(4, 3).weight.detach().clone()
    with seeded_init(5):
        torch.testing.assert_close(torch.nn.Linear(4, 3).weight.detach(), expected)


def test_the_global_generator_continues_as_if_the_block_had_not_run():
    torch.manual_seed(2)
    expected = torch.rand(3)
    torch.manual_seed(2)
    with seeded_init(9):
        torch.nn.Linear(8, 8)
    torch.testing.assert_close(torch.rand(3), expected)
