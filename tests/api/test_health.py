"""Probes and metrics as a load balancer and Prometheus read them."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx

from conftest import ACCOUNT_SID, AUTH_TOKEN, Telephonist, WebApp, database_url, running, wait_until
from telephonist.app import Platform, create_app
from telephonist.config import Settings


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_a_running_server_is_healthy_and_ready(tel: Telephonist) -> None:
    assert httpx.get(tel.base_url + "/healthz").json() == {"status": "ok"}
    r = httpx.get(tel.base_url + "/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_a_platform_that_has_not_started_is_not_ready(tmp_path: Path) -> None:
    settings = Settings(db=database_url(tmp_path), account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    platform = Platform(settings)
    platform.prepare()
    try:
        # The app called directly, without its lifespan: nothing was started.
        transport = httpx.ASGITransport(app=create_app(settings, platform))

        async def probe(path: str) -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
                return await client.get(path)

        assert asyncio.run(probe("/healthz")).status_code == 200
        r = asyncio.run(probe("/readyz"))
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "problems": ["jobs: the job runner is not running"]}
    finally:
        platform.db.close()


def test_metrics_show_calls_queues_jobs_and_webhook_latency(tmp_path: Path, webapp: WebApp) -> None:
    with running(tmp_path, time_scale=1.0) as tel:  # real seconds: a long code sends a segment a second
        client = tel.client()
        for i in range(4):
            client.messages.create(to=f"+1555000000{i}", from_="+15005550006", body="paced")
        text = httpx.get(tel.base_url + "/metrics").text
        queued = metric(text, 'telephonist_messages_queued{sender="+15005550006"}')
        assert queued is not None and queued >= 1
        assert metric(text, "telephonist_job_lag_seconds") is not None
        assert metric(text, "telephonist_sip_transactions") == 0
        voice = webapp.twiml("/long", '<Response><Say>Hi</Say><Pause length="30"/></Response>')
        call = client.calls.create(to="+15557654321", from_="+15005550006", url=voice)
        wait_until(lambda: client.calls(call.sid).fetch().status == "in-progress")
        text = httpx.get(tel.base_url + "/metrics").text
        assert metric(text, "telephonist_calls_in_progress") == 1
        count = metric(text, "telephonist_webhook_duration_seconds_count")
        assert count is not None and count >= 1
        assert metric(text, 'telephonist_webhook_duration_seconds_bucket{le="+Inf"}') == count
        client.calls(call.sid).update(status="completed")
        tel.call_final(call.sid)
        assert metric(httpx.get(tel.base_url + "/metrics").text, "telephonist_calls_in_progress") == 0


def test_the_grafana_dashboard_reads_metrics_the_server_exports(tel: Telephonist) -> None:
    dashboard = json.loads(
        (Path(__file__).parents[2] / "deploy" / "grafana" / "telephonist.json").read_text()
    )
    exported = set(re.findall(r"^# TYPE (\w+)", httpx.get(tel.base_url + "/metrics").text, re.MULTILINE))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"telephonist_\w+", target["expr"]))
            # a histogram's series are its name with _bucket, _sum, _count
            assert {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in names} <= exported | {
                n.removesuffix("_total") for n in exported
            }, (panel["title"], names - exported)
