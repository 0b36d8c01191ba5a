"""Decode: probe a container, plan chunk spans, read each span's frames with their PTS.

probe(path) -> VideoInfo          (PyAV: header, or a packet scan when the header has no duration)
plan_spans(info, video_id, cfg)   -> [ChunkSpan, ...]  (a time grid; no frame is touched)
open_reader(info, cfg)            -> ChunkReader.read(span) -> FrameChunk
                                     (decode.backend: PyAV by default, or decord; OpenCV when they cannot open the file)
"""

from pipeline.decode.errors import DecodeError
from pipeline.decode.plan import plan_spans
from pipeline.decode.probe import probe
from pipeline.decode.readers import ChunkReader, open_reader

__all__ = ["ChunkReader", "DecodeError", "open_reader", "plan_spans", "probe"]
