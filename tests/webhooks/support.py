"""A scripted application for the webhook tests: a real Flask server on loopback whose answers a test
sets path by path and request by request (fail twice then answer, sleep past a timeout, redirect)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, Response, request
from werkzeug.serving import make_server

from conftest import Hit, wait_until

TOKEN = "I-Twilio-Idempotency-Token"
SIGNATURE = "X-Twilio-Signature"


@dataclass(frozen=True)
class Step:
    """One answer: a status, a body, how long to sleep first, where to redirect."""

    status: int = 200
    body: str = "<Response/>"
    content_type: str = "text/xml"
    sleep: float = 0.0
    location: str | None = None


@dataclass
class ScriptedApp:
    base_url: str
    stop: threading.Event
    hits: list[Hit] = field(default_factory=list)
    scripts: dict[str, list[Step]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *steps: Step) -> str:
        """Answer the requests to `path` with these steps in turn, the last one again and again; its URL."""
        with self.lock:
            self.scripts[path] = list(steps)
        return self.base_url + path

    def next_step(self, path: str) -> Step:
        with self.lock:
            steps = self.scripts.get(path) or [Step()]
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def wait_hits(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Hit]:
        return wait_until(lambda: len(self.hits_for(path)) >= count and self.hits_for(path), timeout)  # type: ignore[no-any-return]

    def tokens(self, path: str) -> list[str]:
        return [h.headers[TOKEN] for h in self.hits_for(path)]


@contextmanager
def scripted_app(host: str = "127.0.0.1") -> Iterator[ScriptedApp]:
    flask_app = Flask("scripted")
    server = make_server(host, 0, flask_app, threaded=True)
    app = ScriptedApp(f"http://{host}:{server.server_port}", threading.Event())

    @flask_app.route("/<path:path>", methods=["GET", "POST"])
    def anything(path: str) -> Response:
        hit = Hit(
            request.method,
            request.url,
            "/" + path,
            request.form.to_dict(flat=False),
            request.args.to_dict(flat=False),
            dict(request.headers),
        )
        app.hits.append(hit)
        step = app.next_step(hit.path)
        if step.sleep:
            app.stop.wait(step.sleep)  # a sleeper the end of the test wakes
        response = Response(step.body, status=step.status, content_type=step.content_type)
        if step.location is not None:
            response.headers["Location"] = step.location
        return response

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        app.stop.set()
        server.shutdown()
        server.server_close()
