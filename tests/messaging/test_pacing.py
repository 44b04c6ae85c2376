"""Sending like a carrier: each sender paces its segments (1/s for a long code, 3/s toll-free, or as the
operator configures it), holds at most ten hours of them (21611), and a message past its ValidityPeriod
fails with 30001. Time here is simulated: with time_scale 0.1 a long code sends ten segments a real second.
"""

from __future__ import annotations

from pathlib import Path

from conftest import Telephonist, WebApp, assert_twilio_error, running, wait_until

from ._support import PLATFORM_NUMBER, flat

TOLL_FREE = "+18005550100"


def sent_times(webapp: WebApp, count: int) -> dict[str, float]:
    """When each message's `sent` callback reached the app (seconds, this process's clock)."""

    def all_sent() -> dict[str, float] | None:
        seen = {
            hit.param("MessageSid") or "": hit.at
            for hit in webapp.hits_for("/status")
            if hit.param("MessageStatus") == "sent"
        }
        return seen if len(seen) >= count else None

    return wait_until(all_sent, timeout=20)  # type: ignore[no-any-return]


def send(tel: Telephonist, webapp: WebApp, sender: str, bodies: list[str]) -> list[str]:
    client = tel.client()
    return [
        client.messages.create(
            to="+15551236000", from_=sender, body=b, status_callback=webapp.url("/status")
        ).sid
        for b in bodies
    ]


def spread(times: dict[str, float], sids: list[str]) -> float:
    return times[sids[-1]] - times[sids[0]]


def test_a_long_code_sends_one_segment_a_second(tmp_path: Path, webapp: WebApp) -> None:
    # The spreads are measured by when the callbacks arrive, whose delay varies by a tenth of a second on a
    # loaded machine: each test's time scale makes the spread it expects several times that.
    with running(tmp_path, time_scale=0.3) as tel:
        sids = send(tel, webapp, PLATFORM_NUMBER, [f"m{i}" for i in range(6)])
        times = sent_times(webapp, 6)
        assert [sid for sid, _ in sorted(times.items(), key=lambda kv: kv[1])] == sids  # in order
        assert spread(times, sids) >= 1.2  # five simulated seconds: 1.5 s of real time


def test_a_toll_free_number_sends_three_a_second_and_segments_count(tmp_path: Path, webapp: WebApp) -> None:
    with running(tmp_path, time_scale=0.5) as tel:
        tel.client().incoming_phone_numbers.create(phone_number=TOLL_FREE)
        long_body = "x" * 460  # four segments of 153 septets: 4/3 simulated seconds of the sender
        # the first message warms the callbacks' connection, whose setup would shorten the spread measured
        sids = send(tel, webapp, TOLL_FREE, ["first", long_body, "after"])
        times = sent_times(webapp, 3)
        assert tel.client().messages(sids[1]).fetch().num_segments == "4"
        # 4/3 simulated seconds: 0.67 s (one segment would be 0.17 s; a long code's rate, 2 s)
        assert 0.5 <= spread(times, sids[1:]) < 1.5


def test_the_operator_sets_a_sender_rate(tmp_path: Path, webapp: WebApp) -> None:
    with running(tmp_path, time_scale=0.2, sender_mps={PLATFORM_NUMBER: 0.5}) as tel:
        sids = send(tel, webapp, PLATFORM_NUMBER, ["a", "b", "c"])
        times = sent_times(webapp, 3)
        # two messages at 2 simulated seconds each: 0.8 s (at the default 1 a second, 0.4 s)
        assert spread(times, sids) >= 0.6


def test_a_full_sender_queue_refuses_with_21611(tmp_path: Path) -> None:
    # At 0.001 segments a second, ten hours hold 36 segments: three 10-segment messages fit, a fourth not.
    with running(tmp_path, sender_mps={PLATFORM_NUMBER: 0.001}) as tel:
        body = "y" * 1530
        client = tel.client()
        for _ in range(3):
            assert (
                client.messages.create(to="+15551236001", from_=PLATFORM_NUMBER, body=body).status == "queued"
            )
        with tel.http as h:
            r = h.post(
                f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json",
                data={"To": "+15551236001", "From": PLATFORM_NUMBER, "Body": body},
            )
        assert_twilio_error(r, 400, 21611)
        assert len(client.messages.list()) == 3
        # Another sender is not held up by this one's queue.
        client.incoming_phone_numbers.create(phone_number="+15005550011")
        assert client.messages.create(to="+15551236001", from_="+15005550011", body="hi").status == "queued"


def test_a_message_past_its_validity_period_fails_with_30001(tmp_path: Path, webapp: WebApp) -> None:
    with running(tmp_path, time_scale=0.1, sender_mps={PLATFORM_NUMBER: 0.5}) as tel:
        client = tel.client()
        client.messages.create(to="+15551236002", from_=PLATFORM_NUMBER, body="z" * 1530)  # 20 s of sender
        late = client.messages.create(
            to="+15551236002",
            from_=PLATFORM_NUMBER,
            body="too late",
            validity_period=5,
            status_callback=webapp.url("/status"),
        )
        [hit] = webapp.wait_hits("/status")
        assert flat(hit)["MessageStatus"] == "failed" and flat(hit)["ErrorCode"] == "30001"
        failed = client.messages(late.sid).fetch()
        assert (failed.status, failed.error_code) == ("failed", 30001)


def test_validity_period_out_of_range_is_21624(tel: Telephonist) -> None:
    with tel.http as h:
        for value in ("0", "36001", "soon"):
            r = h.post(
                f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json",
                data={"To": "+15551236003", "From": PLATFORM_NUMBER, "Body": "x", "ValidityPeriod": value},
            )
            assert_twilio_error(r, 400, 21624)
    assert tel.client().messages.list() == []
