"""The pytest plugin as an application's test suite uses it: installed by entry point, nothing imported."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ivr=(Path(__file__).parent / "example_ivr.py").read_text())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_failing_expectation_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_wrong="""
def test_nothing_was_said(telephonist):
    call = telephonist.phone("+15551230000").call(telephonist.number.phone_number).wait()
    assert "Goodbye" in call.said
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Configure your number's voice URL*"])


def test_time_scale_is_an_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntelephonist_time_scale = 0.001\n")
    pytester.makepyfile(
        test_pause="""
import time
def test_pause(telephonist):
    pause = '<Response><Pause length="300"/></Response>'
    call = telephonist.client.calls.create(
        to="+15551230000", from_=telephonist.number.phone_number, twiml=pause
    )
    start = time.monotonic()
    telephonist.call(call.sid).wait(timeout=5)
    assert time.monotonic() - start < 3
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_readme_shows_this_very_example() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert (Path(__file__).parent / "example_ivr.py").read_text().strip() in readme
