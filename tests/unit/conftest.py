"""Unit tests are pure: sockets are refused, so a test that needs a server is a component test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    # Unix sockets stay allowed: asyncio's event loop wakes itself through a socketpair.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
