"""Issue 17, item 9: a cached subject that cannot be trusted (truncated, empty, foreign, of another shape) is
reported by name and simulated again, not a traceback and not silently used."""

import warnings

import numpy as np
import pytest

from brainfm_lite.datasets.base import SubjectDataset


class Counting(SubjectDataset):
    """Subject k is a cube filled with k; `simulated` counts the simulations."""

    target_names = ("age", "score")

    def __init__(self, cache_dir, size=(4, 4, 4)):
        super().__init__(range(3), size=size, cache_dir=cache_dir)
        self.simulated = 0

    def cache_key(self, index):
        return ["counting", index, list(self.size)]

    def simulate(self, index):
        self.simulated += 1
        return {"image": np.full(self.size, float(index), dtype=np.float32),
                "targets": np.array([index, 2 * index], dtype=np.float32), "site": np.array(index % 2)}


def truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path):
    path.write_bytes(b"")


def text(path):
    path.write_text("these are not arrays\n")


def bare_npy(path):
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))


def other_arrays(path):
    with open(path, "wb") as handle:
        np.savez(handle, weights=np.zeros(3))


def pickled_objects(path):
    with open(path, "wb") as handle:
        np.savez(handle, image=np.array([{"not": "an image"}], dtype=object), targets=np.zeros(2), site=np.array(0))


def flipped_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the image member: its CRC no longer matches
    path.write_bytes(bytes(data))


def other_shape(path):
    with open(path, "wb") as handle:
        np.savez(handle, image=np.zeros((8, 8, 8), np.float32), targets=np.zeros(2, np.float32), site=np.array(1))


def other_targets(path):
    with open(path, "wb") as handle:
        np.savez(handle, image=np.zeros((4, 4, 4), np.float32), targets=np.zeros(5, np.float32), site=np.array(1))


DAMAGES = [truncated, empty, text, bare_npy, other_arrays, pickled_objects, flipped_byte, other_shape, other_targets]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.__name__ for d in DAMAGES])
def test_a_damaged_cache_file_is_reported_by_name_and_rebuilt(tmp_path, damage):
    Counting(tmp_path)[1]  # fills the cache for subject 1
    path = Counting(tmp_path).cache_file(1)
    damage(path)

    dataset = Counting(tmp_path)
    with pytest.warns(UserWarning, match=f"{path}: damaged cache file"):
        item = dataset[1]
    assert dataset.simulated == 1
    assert item["image"].shape == (1, 4, 4, 4) and float(item["image"].mean()) == 1.0
    assert float(item["targets"]["score"]) == 2.0

    again = Counting(tmp_path)  # the rebuilt file is read back without a warning or a simulation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(again[1]["image"].mean()) == 1.0
    assert again.simulated == 0


def test_a_cache_made_for_another_size_is_rebuilt_at_the_profiles_size(tmp_path):
    small = Counting(tmp_path, size=(4, 4, 4))
    small[0]
    bigger = Counting(tmp_path, size=(6, 6, 6))
    bigger.cache_file = small.cache_file  # the same file name, as after a change the cache key did not capture
    with pytest.warns(UserWarning, match="image of shape \\(4, 4, 4\\), expected \\(6, 6, 6\\)"):
        assert bigger[0]["image"].shape == (1, 6, 6, 6)
