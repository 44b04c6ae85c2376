"""Failed authentications through two API nodes on one database: the lockout counts the failures made on
either, so spreading guesses over the nodes behind a load balancer buys no more of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ACCOUNT_SID, AUTH_TOKEN, assert_twilio_error, postgres_url, wait_until

from .cluster import Node

pytestmark = pytest.mark.slow

UNKNOWN_SID = "AC" + "f" * 32


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[list[Node]]:
    db = postgres_url(tmp_path)
    log = tmp_path / "nodes.log"
    limits = {"auth_failures": "3", "auth_failure_window": "3600"}
    nodes = [Node(db, "api", "api-1", log, **limits)]
    try:
        nodes[0].wait_ready()  # the first migrates and makes the account
        nodes.append(Node(db, "api", "api-2", log, **limits))
        nodes[1].wait_ready()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def get(node: Node, sid: str, token: str) -> httpx.Response:
    with httpx.Client(base_url=node.base_url, timeout=10) as h:
        return h.get(f"/2010-04-01/Accounts/{sid}/Calls.json", auth=(sid, token))


def test_failures_on_either_api_node_lock_the_address_out_of_both(apis: list[Node]) -> None:
    one, two = apis
    assert get(one, ACCOUNT_SID, AUTH_TOKEN).status_code == 200
    # Three wrong tokens, two on one node and one on the other: neither node saw three of its own.
    for node in (one, two, one):
        assert_twilio_error(get(node, ACCOUNT_SID, "wrong"), 401, 20003)
    # Each node counts the other's: the address is locked out of both, the right token refused alike.
    for node in (one, two):
        wait_until(lambda node=node: get(node, ACCOUNT_SID, AUTH_TOKEN).status_code == 429, timeout=5)
        assert_twilio_error(get(node, ACCOUNT_SID, AUTH_TOKEN), 429, 20429)
    # Only that SID: another one from the same address is still answered on its merits.
    assert_twilio_error(get(two, UNKNOWN_SID, "wrong"), 401, 20003)
