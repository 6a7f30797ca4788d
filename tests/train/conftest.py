"""Fixtures for the Trainer tests: the toy problem of toy_problem.py (a file torchrun also runs as a script)."""

import importlib.util
from pathlib import Path

import pytest

TOY_PROBLEM = Path(__file__).with_name("toy_problem.py")


@pytest.fixture(scope="session")
def toy():
    """The toy_problem module: SmoothVolumes, MaskedVoxelObjective, ToyCrash, toy_config, train."""
    spec = importlib.util.spec_from_file_location("toy_problem", TOY_PROBLEM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
