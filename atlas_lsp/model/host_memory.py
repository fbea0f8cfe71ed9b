"""Host memory that ggml allocates: the GPU backend's pinned (page-locked) host buffers, for KV states copied off
the GPU.

A parked prompt's state is copied out of the KV cache into host memory (`atlas_lsp/model/parked.py`). With the
cache on a GPU that is a device-to-host copy, and into ordinary (pageable) memory the driver stages it through a
pinned bounce buffer: parking a ~1,500-token prompt took 6-9 ms per cold request on an H200 (docs/benchmarks.md,
seventh session). Into the backend's own host buffer type (CUDA: cudaMallocHost) the copy can go directly.
`atlas-lsp bench decode` measures both on a device that has one; the parking itself still uses ordinary memory until
that measurement says otherwise.

Only ggml's device-neutral API is used (`ggml_backend_dev_by_type`, `ggml_backend_dev_host_buffer_type`), through
llama-cpp-python's own library, so a CPU-only build simply has no GPU host buffer type.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEVICE_TYPE_GPU = 1  # enum ggml_backend_dev_type: CPU 0, GPU 1, IGPU 2, ACCEL 3


@dataclass(eq=False)
class HostAllocation:
    """Memory from a ggml buffer type, as a ctypes byte array; valid until ``HostMemory.free``."""

    array: ctypes.Array[ctypes.c_uint8]
    handle: int  # the ggml_backend_buffer_t


class HostMemory:
    """ggml's buffer allocation, through the library llama-cpp-python loaded (its own function prototypes: the
    shared handle's are llama_cpp's business)."""

    def __init__(self, library_path: str) -> None:
        lib = ctypes.CDLL(library_path)
        pointer = ctypes.c_void_p
        self._functions: dict[str, Any] = {}
        for name, restype, argtypes in (
            ("ggml_backend_dev_by_type", pointer, [ctypes.c_int]),
            ("ggml_backend_dev_host_buffer_type", pointer, [pointer]),
            ("ggml_backend_cpu_buffer_type", pointer, []),
            ("ggml_backend_buft_alloc_buffer", pointer, [pointer, ctypes.c_size_t]),
            ("ggml_backend_buffer_get_base", pointer, [pointer]),
            ("ggml_backend_buffer_free", None, [pointer]),
        ):
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
            self._functions[name] = function

    @classmethod
    def of_llama_cpp(cls, llama_cpp: Any) -> HostMemory | None:
        """The allocator of the llama.cpp that ``llama_cpp`` loaded; None where its library lacks the API."""
        try:
            return cls(llama_cpp.llama_cpp._lib._name)
        except (AttributeError, OSError) as error:
            logger.debug("ggml's buffer API is not reachable: %s", error)
            return None

    def gpu_host_buffer_type(self) -> int | None:
        """The first GPU's pinned host buffer type, or None (no GPU backend, or it has none)."""
        device = self._functions["ggml_backend_dev_by_type"](DEVICE_TYPE_GPU)
        if not device:
            return None
        return self._functions["ggml_backend_dev_host_buffer_type"](device) or None

    def cpu_buffer_type(self) -> int:
        return int(self._functions["ggml_backend_cpu_buffer_type"]())

    def allocate(self, buffer_type: int, size: int) -> HostAllocation | None:
        """``size`` bytes of ``buffer_type``'s memory, or None when it cannot be had."""
        handle = self._functions["ggml_backend_buft_alloc_buffer"](buffer_type, size)
        if not handle:
            return None
        base = self._functions["ggml_backend_buffer_get_base"](handle)
        if not base:
            self._functions["ggml_backend_buffer_free"](handle)
            return None
        return HostAllocation((ctypes.c_uint8 * size).from_address(base), handle)

    def free(self, allocation: HostAllocation) -> None:
        """Give the memory back (its array must not be used afterwards)."""
        if allocation.handle:
            self._functions["ggml_backend_buffer_free"](allocation.handle)
            allocation.handle = 0
