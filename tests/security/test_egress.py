"""The address policy of outgoing requests (webhooks): one row per refused range, and URL hygiene."""
from __future__ import annotations

import ipaddress

import pytest

from otabox.security import egress

REFUSED = [
    ("0.1.2.3", "0.0.0.0/8", "unspecified"),
    ("10.1.2.3", "10.0.0.0/8", "private"),
    ("100.64.0.1", "100.64.0.0/10", "shared"),
    ("127.0.0.2", "127.0.0.0/8", "loopback"),
    ("169.254.169.254", "169.254.0.0/16", "cloud metadata"),
    ("172.16.5.4", "172.16.0.0/12", "private"),
    ("192.0.0.8", "192.0.0.0/24", "IETF"),
    ("192.0.2.1", "192.0.2.0/24", "documentation"),
    ("192.88.99.1", "192.88.99.0/24", "6to4 relay"),
    ("192.168.0.10", "192.168.0.0/16", "private"),
    ("198.18.0.1", "198.18.0.0/15", "benchmarking"),
    ("198.51.100.7", "198.51.100.0/24", "documentation"),
    ("203.0.113.9", "203.0.113.0/24", "documentation"),
    ("239.255.255.250", "224.0.0.0/4", "multicast"),
    ("240.0.0.1", "240.0.0.0/4", "reserved"),
    ("::", "::/128", "unspecified"),
    ("::1", "::1/128", "loopback"),
    ("::ffff:93.184.216.34", "::ffff:0:0/96", "IPv4-mapped"),
    ("::93.184.216.34", "::/96", "IPv4-compatible"),
    ("64:ff9b::7f00:1", "64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::a9fe:a9fe", "64:ff9b:1::/48", "local NAT64"),
    ("100::1", "100::/64", "discard"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", "Teredo"),
    ("2001:db8::1", "2001:db8::/32", "documentation"),
    ("2002:7f00:1::1", "2002::/16", "6to4"),
    ("fd00:ec2::254", "fc00::/7", "unique local"),
    ("fe80::1", "fe80::/10", "link-local"),
    ("fec0::1", "fec0::/10", "site-local"),
    ("ff02::1", "ff00::/8", "multicast"),
]


@pytest.mark.parametrize("address, network, words", REFUSED)
def test_each_refused_range_is_refused_with_its_reason(address, network, words):
    assert ipaddress.ip_address(address) in ipaddress.ip_network(network)
    assert words in egress.refused_reason(address)


def test_the_table_covers_every_range_of_the_one_list():
    assert sorted(network for _, network, _ in REFUSED) == sorted(str(n) for n, _ in egress.REFUSED_NETWORKS)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"])
def test_public_addresses_pass(address):
    assert egress.refused_reason(address) is None


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/a b", "https://hooks.example.com/a\r\nX-Injected: 1", "https://hooks.example.com/\t",
    " https://hooks.example.com/", "https://hooks.example.com/\x00", "https://hooks.example.com/\u2028",
    "https://hooks.example.com/\x7f",
])
def test_urls_with_whitespace_or_control_characters_are_refused(url):
    with pytest.raises(egress.EgressRefused, match="whitespace or control characters"):
        egress.parse_url(url)


def test_a_plain_url_parses():
    assert egress.parse_url("https://hooks.example.com/otabox?x=1").hostname == "hooks.example.com"
