"""Describe: a chunk's frames -> caption and events, by a vision-language model.

make_describer(cfg) -> Describer     (Qwen3VLDescriber on transformers; "tiny-random" for tests)
describe_chunks(describer, chunks)   (its results, each with the PTS of the frames the model saw)
split_reasoning / parse_answer       (raw model text -> caption, [Event], problem)
"""

from pipeline.describe.base import Describer, describe_chunks
from pipeline.describe.factory import make_describer
from pipeline.describe.parse import parse_answer, split_reasoning

__all__ = ["Describer", "describe_chunks", "make_describer", "parse_answer", "split_reasoning"]
