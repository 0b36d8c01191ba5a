"""The embed plug point."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        ...


def quiet_transformers() -> None:
    """For a search process, whose stderr carries its errors only: transformers' warnings and progress bars (a
    model loaded or exported once for its queries) are not shown. Said through the environment where
    transformers is not imported yet, so that saying it imports nothing."""
    import os
    import sys

    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    else:
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
