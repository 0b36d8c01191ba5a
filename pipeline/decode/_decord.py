"""The one place decord is imported.

decord2 (which imports as ``decord``) dlopens every library under ``site-packages/nvidia/*/lib`` with RTLD_GLOBAL
at import, to find a CUDA runtime for its GPU decoder. With torch's CUDA wheels installed that includes
``libnvblas``, which then intercepts BLAS calls and crashes torch's CPU matmuls (segfault) in the same process.
vidseek decodes on the CPU, so the preload is skipped by hiding the ``nvidia`` package during the import.
"""

from __future__ import annotations

import importlib.util
import sys


def import_decord():
    if "decord" in sys.modules:
        return sys.modules["decord"]
    real_find_spec = importlib.util.find_spec

    def find_spec_without_nvidia(name, *args, **kwargs):
        return None if name == "nvidia" else real_find_spec(name, *args, **kwargs)

    importlib.util.find_spec = find_spec_without_nvidia
    try:
        import decord
    except ImportError as exc:
        raise ImportError("decord is missing: pip install decord2  (or: pip install -e .)") from exc
    finally:
        importlib.util.find_spec = real_find_spec
    return decord
