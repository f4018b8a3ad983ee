"""The patch maker's bsdiff within bounded memory: pairs above 1 MB are diffed in a spawned child
process (its ~17x working memory leaves with the pair, never in the server's heap), small ones in
place; either way the patch is the same and the staged copies are gone afterwards."""
from __future__ import annotations

import multiprocessing
import random

import bsdiff4

from otabox.core import xzdiff
from otabox.ops.patches import IN_PROCESS_BYTES, Differ
from otabox.store.blobs import Staging


def pair(size: int) -> tuple[bytes, bytes]:
    rng = random.Random(3)
    old = " ".join(f"function f{rng.randrange(100_000)}(){{}}" for _ in range(size // 20)).encode()[:size]
    return old, old.replace(b"function f1", b"function g1", 5)


def test_a_large_pair_is_diffed_in_a_child_process_and_a_small_one_in_place(tmp_path):
    staging = tmp_path / "staging"
    large, small = pair(IN_PROCESS_BYTES + 200_000), pair(50_000)
    with Differ(Staging(staging)) as differ:
        assert bsdiff4.patch(small[0], differ.diff(*small)) == small[1]
        assert multiprocessing.active_children() == []
        patch = differ.diff(*large)
        assert len(multiprocessing.active_children()) == 1
    assert bsdiff4.patch(large[0], patch) == large[1] and patch == bsdiff4.diff(*large)
    assert multiprocessing.active_children() == [] and list(staging.iterdir()) == []


def test_the_native_archives_bsdiffxz_patches_take_the_same_way(tmp_path):
    staging = tmp_path / "staging"
    large, small = pair(IN_PROCESS_BYTES + 200_000), pair(50_000)
    with Differ(Staging(staging)) as differ:
        assert differ.diff(*small, codec=xzdiff) == xzdiff.diff(*small)
        assert multiprocessing.active_children() == []
        patch = differ.diff(*large, codec=xzdiff)
        assert len(multiprocessing.active_children()) == 1
    assert patch == xzdiff.diff(*large) and xzdiff.patch(large[0], patch) == large[1]
    assert multiprocessing.active_children() == [] and list(staging.iterdir()) == []
