"""Binary patches as pure functions: BSDIFF40 and BSDIFFXZ making and applying, when a patch is worth
serving, the memory budget, what a client's A-IM asks for, and which patches an Expo channel wants."""
from __future__ import annotations

import dataclasses

import bsdiff4
import pytest
from test_decide import app, bundle, channel, release

from otabox.core import patches, xzdiff
from otabox.core.patches import PatchJob
from otabox.protocols.expo.patches import asks_for_bsdiff, patch_jobs

OLD = b"".join(b"function f%d(){return %d}\n" % (i, i * 7) for i in range(2000))
NEW = OLD.replace(b"return 700}", b"return 701}")


def test_a_made_patch_rebuilds_the_new_file_and_is_bsdiff4s_format():
    patch = bsdiff4.diff(OLD, NEW)
    assert patch.startswith(b"BSDIFF40")
    assert patches.apply_patch(OLD, patch) == NEW == bsdiff4.patch(OLD, patch)
    assert len(patch) < patches.compressed_size(NEW) // 10


@pytest.mark.parametrize("damage", [lambda p: p[:len(p) // 2], lambda p: p[:8], lambda p: b"BSDIFF41" + p[8:],
                                    lambda p: b"", lambda p: p[:32] + b"\0" * (len(p) - 32)],
                         ids=["half", "magic-only", "wrong-magic", "empty", "zeroed"])
def test_a_damaged_patch_is_a_value_error(damage):
    with pytest.raises(ValueError):
        patches.apply_patch(OLD, damage(bsdiff4.diff(OLD, NEW)))


def test_a_bsdiffxz_patch_rebuilds_the_new_file_from_bsdiff4s_streams_in_xz():
    patch = xzdiff.diff(OLD, NEW)
    assert patch.startswith(b"BSDIFFXZ") and xzdiff.patch(OLD, patch) == NEW
    assert len(patch) < patches.compressed_size(NEW) // 10
    control, diff, extra = bsdiff4.core.diff(OLD, NEW)
    assert int.from_bytes(patch[24:32], "little") == len(NEW)
    assert bsdiff4.core.patch(OLD, len(NEW), control, diff, extra) == NEW


def test_a_bsdiffxz_patch_file_is_the_same_as_in_memory(tmp_path):
    (tmp_path / "old").write_bytes(OLD)
    (tmp_path / "new").write_bytes(NEW)
    xzdiff.file_diff(str(tmp_path / "old"), str(tmp_path / "new"), str(tmp_path / "patch"))
    assert (tmp_path / "patch").read_bytes() == xzdiff.diff(OLD, NEW)


@pytest.mark.parametrize("damage", [
    lambda p: p[:len(p) // 2], lambda p: p[:8], lambda p: b"BSDIFF40" + p[8:], lambda p: b"", lambda p: p[:-1],
    lambda p: p + b"\0", lambda p: p[:32] + b"\0" * (len(p) - 32),
    lambda p: p[:8] + (1 << 40).to_bytes(8, "little") + p[16:],  # a control length past the end
    lambda p: p[:24] + (3).to_bytes(8, "little") + p[32:]],  # a new size the streams do not fit
    ids=["half", "magic-only", "bsdiff40-magic", "empty", "truncated", "trailing", "zeroed", "long-control",
         "small-size"])
def test_a_damaged_bsdiffxz_patch_is_a_value_error(damage):
    with pytest.raises(ValueError):
        xzdiff.patch(OLD, damage(xzdiff.diff(OLD, NEW)))


@pytest.mark.parametrize("patch_size, compressed, worth", [
    (0, 100, True), (75, 100, True), (76, 100, False), (100, 100, False), (500, 100, False)])
def test_a_patch_is_worth_serving_only_when_clearly_smaller(patch_size, compressed, worth):
    assert patches.worth_serving(patch_size, compressed) is worth


@pytest.mark.parametrize("base, target, limit, too_large", [
    (10, 10, 10, False), (11, 10, 10, True), (10, 11, 10, True), (0, 0, 0, False)])
def test_pairs_above_the_input_limit_are_too_large(base, target, limit, too_large):
    assert patches.too_large(PatchJob(1, "a", "b", base, target), limit) is too_large


@pytest.mark.parametrize("a_im, asks", [
    ("bsdiff", True), ("BSDIFF", True), ("gzip, bsdiff", True), ("bsdiff;q=1", True), (" vcdiff , bsdiff ", True),
    (None, False), ("", False), ("vcdiff", False), ("bsdiff4", False), ("xbsdiff", False)])
def test_a_im_names_bsdiff(a_im, asks):
    assert asks_for_bsdiff(a_im) is asks


def test_recorded_and_usable_tell_made_from_skipped():
    extra = {"patches": {"t": {"a": patches.made("p" * 64, 10, 100), "b": patches.skipped("not_smaller")}}}
    assert patches.usable(extra, "a", "t")["sha256"] == "p" * 64
    assert patches.recorded(extra, "b", "t") == {"skipped": "not_smaller"} and patches.usable(extra, "b", "t") is None
    assert patches.recorded(extra, "c", "t") is None and patches.recorded({}, "a", "t") is None


def expo_bundle(id: int, runtime: str = "1", platforms: tuple = ("ios", "android")):
    files = {p: {"launchAsset": {"sha256": f"{p}-{id}", "size": 100 + id}} for p in platforms}
    return dataclasses.replace(bundle(id, f"1.0.{id}", format="expo"), runtime_version=runtime,
                               extra={"platforms": list(platforms), "files": files})


def pairs(view, bases=5) -> set[tuple]:
    return {(job.bundle_id, job.base_sha256, job.target_sha256) for job in patch_jobs(view, bases)}


def test_the_served_update_gets_patches_from_the_last_n_per_platform():
    b1, b2, b3, b4 = (expo_bundle(i) for i in range(1, 5))
    view = app(channel(release(4, b4), release(3, b3), release(2, b2), release(1, b1)))
    assert pairs(view, bases=2) == {(4, f"{p}-{b}", f"{p}-4") for p in ("ios", "android") for b in (3, 2)}
    assert pairs(view, bases=0) == set()


def test_a_partial_rollout_also_wants_patches_to_the_update_it_leaves_devices_on():
    b1, b2, b3 = (expo_bundle(i) for i in range(1, 4))
    view = app(channel(release(3, b3, rollout=10), release(2, b2), release(1, b1)))
    assert pairs(view) == {(3, f"{p}-{b}", f"{p}-3") for p in ("ios", "android") for b in (2, 1)} | \
        {(2, f"{p}-1", f"{p}-2") for p in ("ios", "android")}


def test_runtimes_platforms_formats_and_disabled_releases_are_kept_apart():
    ios_only, other_runtime = expo_bundle(2, platforms=("ios",)), expo_bundle(3, runtime="2")
    disabled, zip_bundle = expo_bundle(4), bundle(5, "1.0.5")
    view = app(channel(release(5, zip_bundle), release(4, disabled, disabled=True), release(3, other_runtime),
                       release(2, ios_only), release(1, expo_bundle(1))))
    assert pairs(view) == {(2, "ios-1", "ios-2")}
