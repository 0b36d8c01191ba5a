"""Describe: a chunk's frames -> caption and events, by a vision-language model.

make_describer(cfg) -> Describer     (Qwen3VLDescriber on transformers; "tiny-random" for tests)
split_reasoning / parse_answer       (raw model text -> caption, [Event], problem)
"""

from pipeline.describe.base import Describer
from pipeline.describe.factory import make_describer
from pipeline.describe.parse import parse_answer, split_reasoning

__all__ = ["Describer", "make_describer", "parse_answer", "split_reasoning"]
