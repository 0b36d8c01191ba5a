"""Decode failures carry the file and a one-line reason, for the ingest summary."""


class DecodeError(RuntimeError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
