"""A scripted OpenAI-compatible chat server on loopback, for testing the real `openai` client over real HTTP.

Each request takes the next step of ``script`` (then ``default``): "ok", "429", "500", "400" (a request the
server refuses, e.g. a video it cannot take), "slow" (sleeps past the
client's timeout), "garbage" (an answer that is not JSON), "thinking" (reasoning inline, closed by </think>).
A good answer puts one event at the first and second frame times the request carried, so tests can check that
the absolute times went out in the prompt; for a request carrying a video, the first and second frames' times
as decoded from that video (PyAV), counted from its start as a server's video processor counts them.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def video_frame_times(data_url: str) -> list[float]:
    import av

    data = base64.b64decode(data_url.split(",", 1)[1])
    with av.open(io.BytesIO(data)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


class FakeOpenAIServer:
    def __init__(self, script: list[str] | None = None, default: str = "ok", slow_s: float = 3.0) -> None:
        self.script, self.default, self.slow_s = list(script or []), default, slow_s
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_step(self, body: dict, headers: dict) -> str:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.script.pop(0) if self.script else self.default

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                step = server.next_step(body, {k.lower(): v for k, v in self.headers.items()})
                if step == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
                if step == "500":
                    return self._send(500, {"error": {"message": "upstream exploded"}})
                if step == "400":
                    return self._send(400, {"error": {"message": "video input is not supported by this model"}})
                if step == "slow":
                    time.sleep(server.slow_s)
                    step = "ok"
                times = [float(t) for t in re.findall(r"<(\d+(?:\.\d+)?) seconds>", json.dumps(body))]
                videos = [c["video_url"]["url"] for c in body["messages"][0]["content"] if c["type"] == "video_url"]
                if videos:
                    times = video_frame_times(videos[0])
                answer = (
                    json.dumps(
                        {
                            "caption": "A test caption.",
                            "events": [
                                {
                                    "start_s": times[0],
                                    "end_s": times[min(1, len(times) - 1)],
                                    "label": "first moment",
                                    "description": "something happens",
                                }
                            ],
                        }
                    )
                    if times
                    else "{}"
                )
                message = {"role": "assistant", "content": answer, "reasoning_content": "I looked at the frames."}
                if step == "garbage":
                    message = {"role": "assistant", "content": "The frames show a street. No JSON today."}
                elif step == "thinking":
                    message = {"role": "assistant", "content": "Looking...</think>\n" + answer}
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290},
                    },
                )

        return Handler
