"""The same model behind an OpenAI-compatible chat endpoint (vLLM serving Qwen3-VL, or a hosted API).

Each chunk goes as one user message: every frame as a JPEG image preceded by its absolute time in the same
``<t seconds>`` form the transformers processor writes, then the instruction; or, with ``send: video``, the
frames as one H.264 MP4 whose timestamps are the frames' own (PTS from their first frame), the model's times
shifted back onto the video's clock when the answer is parsed. Requests run ``max_concurrency`` at a
time; the ``openai`` client retries 408/409/429/5xx and timeouts with exponential backoff and honours
``Retry-After``. A chunk that still fails comes back as a ``ChunkFailure``: recorded, not indexed, and retried by
the next ingest. The API key is read from the environment variable the config names and is never logged.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

from pipeline.config import DescribeConfig
from pipeline.describe.parse import describe_chunk, split_reasoning
from pipeline.describe.prompt import build_prompt_text
from pipeline.types import ChunkDescription, ChunkFailure, FrameChunk

log = logging.getLogger(__name__)


def jpeg_data_url(frame) -> str:
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


def mp4_data_url(frames, pts_s) -> str:
    """The frames as an H.264 MP4 (millisecond timestamps from the first frame, so uneven sampling is kept; the
    frame rate in the header is the average). Odd sizes lose their last row or column: 4:2:0 needs even ones."""
    import av

    height, width = (frames.shape[1] // 2) * 2, (frames.shape[2] // 2) * 2
    span_s = float(pts_s[-1] - pts_s[0])
    rate = Fraction((len(frames) - 1) / span_s).limit_denominator(1000) if len(frames) > 1 and span_s > 0 else 1
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for frame, t in zip(frames, pts_s, strict=True):
            picture = av.VideoFrame.from_ndarray(frame[:height, :width], format="rgb24")
            picture.pts, picture.time_base = round((t - pts_s[0]) * 1000), Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return "data:video/mp4;base64," + base64.b64encode(buffer.getvalue()).decode()


def build_messages(chunk: FrameChunk, detail: str = "auto", send: str = "images") -> list[dict]:
    span = chunk.span
    if send == "video":
        clip_s = span.covered_end_s - float(chunk.pts_s[0])
        content = [
            {"type": "video_url", "video_url": {"url": mp4_data_url(chunk.frames, chunk.pts_s)}},
            {
                "type": "text",
                "text": build_prompt_text(span.covered_start_s, span.covered_end_s, clip_duration_s=clip_s),
            },
        ]
        return [{"role": "user", "content": content}]
    content: list[dict] = []
    for frame, t in zip(chunk.frames, chunk.pts_s, strict=True):
        content.append({"type": "text", "text": f"<{t:.1f} seconds>"})
        content.append({"type": "image_url", "image_url": {"url": jpeg_data_url(frame), "detail": detail}})
    content.append({"type": "text", "text": build_prompt_text(span.covered_start_s, span.covered_end_s)})
    return [{"role": "user", "content": content}]


class OpenAIDescriber:
    def __init__(self, cfg: DescribeConfig) -> None:
        self.cfg = cfg
        self.endpoint = cfg.openai
        self.name = f"openai:{self.endpoint.model}"
        self.client = None

    def load(self) -> None:
        from openai import OpenAI

        api_key = os.environ.get(self.endpoint.api_key_env) or "EMPTY"  # local vLLM accepts any key
        self.client = OpenAI(
            base_url=self.endpoint.base_url,
            api_key=api_key,
            timeout=self.endpoint.timeout_s,
            max_retries=self.endpoint.max_retries,
        )

    def describe(self, chunks: list[FrameChunk]) -> list[ChunkDescription | ChunkFailure]:
        if self.client is None:
            self.load()
        with ThreadPoolExecutor(max_workers=min(self.endpoint.max_concurrency, max(1, len(chunks)))) as pool:
            return list(pool.map(self._describe_one, chunks))

    def complete(self, prompt: str) -> str:
        """Text in, answer out; the client's retries apply, and a failure raises (the caller reports it)."""
        if self.client is None:
            self.load()
        response = self.client.chat.completions.create(
            model=self.endpoint.model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=self.cfg.max_new_tokens,
            seed=self.cfg.seed,
            **self._sampling(),
        )
        if not response.choices:
            raise RuntimeError(f"{self.endpoint.base_url} returned no choices")
        return _split(response.choices[0].message)[1]

    def count_tokens(self, text: str) -> int:
        """An upper estimate (no tokenizer here): about 3 characters per token for English and timestamps."""
        return len(text) // 3 + 1

    def _sampling(self) -> dict:
        if self.cfg.greedy:
            return {"temperature": 0.0}
        return {"temperature": self.cfg.temperature, "top_p": self.cfg.top_p, "extra_body": {"top_k": self.cfg.top_k}}

    def _request(self, chunk: FrameChunk):
        return self.client.chat.completions.create(
            model=self.endpoint.model,
            messages=build_messages(chunk, self.endpoint.image_detail, self.endpoint.send),
            max_tokens=self.cfg.max_new_tokens,
            seed=self.cfg.seed,
            **self._sampling(),
        )

    def _describe_one(self, chunk: FrameChunk) -> ChunkDescription | ChunkFailure:
        import openai

        span = chunk.span
        try:
            response = self._request(chunk)
        except openai.APIStatusError as exc:
            retried = exc.status_code in (408, 409, 429) or exc.status_code >= 500  # what the client retries
            how = f"after {self.endpoint.max_retries} retries" if retried else "(a refusal: not retried)"
            return ChunkFailure(span, f"endpoint answered HTTP {exc.status_code} {how}: {_short(exc.message)}")
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            return ChunkFailure(
                span, f"endpoint unreachable after {self.endpoint.max_retries} retries: {exc.__class__.__name__}"
            )
        if not response.choices:
            return ChunkFailure(span, "endpoint returned no choices")
        reasoning, answer, problem = _split(response.choices[0].message)
        if not answer and response.choices[0].finish_reason == "length":
            problem = "output budget exhausted before the answer (max_new_tokens)"
        offset_s = float(chunk.pts_s[0]) if self.endpoint.send == "video" else 0.0  # the clip's clock starts at 0
        usage = response.usage
        tokens = getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0
        return describe_chunk(span, reasoning, answer, problem, self.name, self.cfg.keep_reasoning, *tokens, offset_s)


def _split(message) -> tuple[str, str, str]:
    """(reasoning, answer, problem) of a chat message, whether or not the server split the reasoning off."""
    content = message.content or ""
    extra = message.model_extra or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning") or ""
    if reasoning or "</think>" not in content:
        return reasoning, content.strip(), ""  # the server's reasoning parser already split it off, or none
    return split_reasoning(content)


def _short(text: str) -> str:
    return " ".join(str(text).split())[:200]
