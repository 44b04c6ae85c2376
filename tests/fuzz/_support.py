"""Settings shared by the fuzz targets: bounded and repeatable, so CI runs the same inputs every time."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def bounded(max_examples: int) -> settings:
    """`max_examples` derandomized inputs, no example database (nothing is written to disk, nothing replayed
    from an earlier run), no deadline: a slow CI machine must not turn into a flaky failure."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
