"""pytest plugin, registered as the `telephonist` entry point: the `telephonist` fixture gives each test a
fresh Telephonist (its own database and port) and stops it afterwards.

Set `telephonist_time_scale` in the pytest ini options to change simulated time (default 0.01: a
`<Pause length="10">` lasts a tenth of a second).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from telephonist.testing import Telephonist, start


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("telephonist_time_scale", "real seconds per simulated second in tests", default="0.01")


@pytest.fixture
def telephonist(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Telephonist]:
    scale = float(request.config.getini("telephonist_time_scale"))
    tel = start(tmp_path_factory.mktemp("telephonist"), time_scale=scale)
    try:
        yield tel
    finally:
        tel.stop()
