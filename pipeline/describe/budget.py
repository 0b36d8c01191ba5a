"""A thinking budget for Thinking models: after ``budget`` generated tokens without ``</think>``, force the tokens
of a short closing sentence ending in ``</think>``, then let the model write its answer.

Stateless per step (it looks only at the ids generated so far), so it works for every row of a batch in a single
``generate`` call, with no second prefill. The closing sentence is the one Qwen suggests for early stopping.
"""

from __future__ import annotations

CLOSE_THINKING = (
    "\n\nConsidering the limited time, I have to give the solution based on the thinking directly now.\n</think>"
)


class ThinkingBudget:
    """A transformers ``LogitsProcessor`` (duck-typed: called with (input_ids, scores))."""

    def __init__(self, prompt_len: int, budget: int, close_ids: list[int], think_end_id: int) -> None:
        if not close_ids or close_ids[-1] != think_end_id:
            raise ValueError(f"the closing tokens must end with </think> ({think_end_id}), got {close_ids}")
        self.prompt_len, self.budget, self.close_ids, self.end_id = prompt_len, budget, close_ids, think_end_id

    def forced_token(self, generated: int) -> int | None:
        """The token a row whose reasoning is still open must take after ``generated`` new tokens (None: its own
        choice): past the budget, the closing tokens one by one, the last being ``</think>``."""
        step = generated - self.budget  # how many closing tokens were already forced
        return None if step < 0 else self.close_ids[min(step, len(self.close_ids) - 1)]

    def __call__(self, input_ids, scores):
        generated = input_ids[:, self.prompt_len :]
        forced = self.forced_token(generated.shape[1])
        if forced is None:
            return scores
        open_rows = ~(generated == self.end_id).any(dim=1)
        if open_rows.any():
            scores[open_rows] = float("-inf")
            scores[open_rows, forced] = 0.0
        return scores

    @staticmethod
    def exhausted(reasoning: str) -> bool:
        """Whether the reasoning was closed by the budget (it ends with the forced sentence)."""
        return reasoning.rstrip().endswith(_FORCED_SENTENCE)

    @staticmethod
    def strip_close(reasoning: str) -> str:
        return reasoning.rstrip().removesuffix(_FORCED_SENTENCE).rstrip()


_FORCED_SENTENCE = CLOSE_THINKING.removesuffix("</think>").strip()
