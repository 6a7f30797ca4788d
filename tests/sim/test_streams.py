"""The one table of random streams: ids are unique, and one item's generator depends only on (seed, stream, index)."""

import numpy as np

from brainfm_lite.sim.streams import Stream, stream_rng


def test_stream_ids_are_unique():
    ids = [int(member) for member in Stream]
    assert len(ids) == len(set(ids))


def test_an_items_draws_depend_on_its_stream_and_index_only():
    first = stream_rng(0, Stream.ASL_SUBJECT, 5).uniform(size=4)
    assert np.array_equal(first, stream_rng(0, Stream.ASL_SUBJECT, 5).uniform(size=4))
    assert not np.array_equal(first, stream_rng(0, Stream.ASL_RESCAN, 5).uniform(size=4))
    assert not np.array_equal(first, stream_rng(0, Stream.ASL_SUBJECT, 6).uniform(size=4))
    assert not np.array_equal(first, stream_rng(1, Stream.ASL_SUBJECT, 5).uniform(size=4))


def test_qmri_maps_and_asl_rescans_of_one_subject_draw_from_different_streams():
    assert Stream.QMRI_MAPS != Stream.ASL_RESCAN
