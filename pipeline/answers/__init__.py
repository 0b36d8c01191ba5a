"""Answers over footage, from what the index holds (captions and events with their times).

ask(question, searcher, model, cfg)        retrieve moments -> model answers citing them -> citations checked
summarize(catalog, video, model, cfg)      captions of a range folded level by level until they fit one call
"""

from pipeline.answers.ask import Answer, ask
from pipeline.answers.citations import Citation, check_citations, moment_label
from pipeline.answers.summarize import Summary, summarize

__all__ = ["Answer", "Citation", "Summary", "ask", "check_citations", "moment_label", "summarize"]
