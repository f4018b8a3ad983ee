"""Whole-number versions per channel as the serving state answers them, and the semantic version a
numbered upload gets (pure functions, table tests)."""
from __future__ import annotations

import dataclasses

import pytest
from test_decide import channel

from otabox.core import semver
from otabox.core.numbered_bundles import bundle_version

# (number, bundle id), highest first: bundle 7 was numbered 3 by a release label before the upgrade, then 5.
NUMBERED = dataclasses.replace(channel(), numbers=((6, 8), (5, 7), (3, 7), (1, 2)))


@pytest.mark.parametrize("number,bundle_id", [(6, 8), (5, 7), (3, 7), (1, 2), (2, None), (4, None), (0, None)])
def test_every_number_a_device_holds_names_its_bundle(number, bundle_id):
    assert NUMBERED.bundle_numbered(number) == bundle_id


@pytest.mark.parametrize("bundle_id,number", [(8, 6), (7, 5), (2, 1), (9, None)])
def test_a_bundle_is_offered_under_its_highest_number(bundle_id, number):
    assert NUMBERED.number_of(bundle_id) == number


@pytest.mark.parametrize("number,channel_name,expected", [
    (1, "production", "1.0.0+koolbase.production.147599f3a1b2"),
    (12, "qa_team.eu", "12.0.0+koolbase.qa-team-eu.147599f3a1b2"),
])
def test_numbered_uploads_get_a_valid_version_ordered_by_number(number, channel_name, expected):
    version = bundle_version(number, channel_name, "147599f3a1b2" + "0" * 52)
    assert version == expected
    assert semver.parse_version(version).major == number
