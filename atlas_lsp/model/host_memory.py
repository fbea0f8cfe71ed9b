"""Host memory for KV states copied out of the cache: the GPU backend's pinned (page-locked) host buffers where the
model's layers are on a GPU, anonymous mappings elsewhere.

A parked prompt's state is copied out of the KV cache into host memory (`atlas_lsp/model/parked.py`). With the
cache on a GPU that is a device-to-host copy, and into ordinary (pageable) memory the driver stages it through a
pinned bounce buffer. Measured on an H200 (`bench decode`, eighth session, a 1,898-token state of 43.8 MB): into
new pageable memory 32.3 ms, into pageable memory used before 4.9 ms, back in 6.5 ms; into the backend's own pinned
host buffers (CUDA: cudaMallocHost) 1.4 ms out and 1.8 ms back in. So `StateMemory` gives a GPU model's states
pinned memory, up to MAX_PINNED_BYTES in all (page-locked memory is taken from the whole machine), and anonymous
mappings beyond that and on a CPU.

Only ggml's device-neutral API is used (`ggml_backend_dev_by_type`, `ggml_backend_dev_host_buffer_type`), through
llama-cpp-python's own library, so a CPU-only build simply has no GPU host buffer type.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEVICE_TYPE_GPU = 1  # enum ggml_backend_dev_type: CPU 0, GPU 1, IGPU 2, ACCEL 3
MAX_PINNED_BYTES = 512 << 20  # page-locked memory held for parked states at most; beyond it, ordinary memory


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


def mapped_buffer(size: int) -> ctypes.Array[ctypes.c_uint8]:
    """``size`` bytes of ordinary memory, mapped but not yet touched: its pages are faulted in by the copy itself,
    inside llama.cpp with the GIL released. (A ctypes array zero-fills its memory holding the GIL: 21-42 ms for
    40 MB, time the event loop could not answer in.) The array keeps the mapping; both go together."""
    return (ctypes.c_uint8 * size).from_buffer(mmap.mmap(-1, size))


@dataclass(eq=False)
class StateBuffer:
    """Memory for one KV state: ``array`` (ctypes bytes), from ggml when ``allocation`` is set (freed by `release`,
    through the `StateMemory` that allocated it), else an anonymous mapping (freed with the array)."""

    array: ctypes.Array[ctypes.c_uint8]
    allocation: HostAllocation | None = None
    owner: StateMemory | None = None

    def __len__(self) -> int:
        return len(self.array)

    def release(self) -> None:
        """Give the memory back now (pinned memory is not garbage-collected); safe to call twice."""
        if self.owner is not None:
            self.owner.release(self)


class StateMemory:
    """Allocates and releases the buffers that KV states are copied into: ``buffer_type``'s memory (a GPU backend's
    pinned host buffers) while fewer than ``max_pinned`` bytes of it are held, ordinary memory otherwise."""

    def __init__(
        self, memory: HostMemory | None = None, buffer_type: int | None = None, max_pinned: int = MAX_PINNED_BYTES
    ) -> None:
        self._memory = memory if buffer_type is not None else None
        self._buffer_type = buffer_type
        self.max_pinned = max_pinned
        self.pinned_bytes = 0  # held now
        self.pinned_buffers = 0

    @classmethod
    def for_model(cls, llama_cpp: Any, on_gpu: bool) -> StateMemory:
        """Pinned memory for a model whose layers are on a GPU (where the build has it), else ordinary memory."""
        if not on_gpu:
            return cls()
        memory = HostMemory.of_llama_cpp(llama_cpp)
        buffer_type = memory.gpu_host_buffer_type() if memory is not None else None
        if buffer_type is None:
            logger.info("no pinned host memory from the GPU backend: parked prompts use ordinary memory")
            return cls()
        logger.info("parked prompts are copied into the GPU backend's pinned host memory")
        return cls(memory, buffer_type)

    @property
    def pinned(self) -> bool:
        return self._memory is not None

    def allocate(self, size: int) -> StateBuffer | None:
        """``size`` bytes, pinned while the cap allows; None when no memory can be had."""
        if self._memory is not None and self._buffer_type is not None and self.pinned_bytes + size <= self.max_pinned:
            allocation = self._memory.allocate(self._buffer_type, size)
            if allocation is not None:
                self.pinned_bytes += size
                self.pinned_buffers += 1
                return StateBuffer(allocation.array, allocation, self)
            logger.debug("pinned host memory refused %d bytes: using ordinary memory", size)
        try:
            return StateBuffer(mapped_buffer(size))
        except (MemoryError, OSError, ValueError):
            return None

    def release(self, buffer: StateBuffer) -> None:
        """Give back a buffer this memory allocated (pinned memory is not garbage-collected); safe to call twice."""
        allocation = buffer.allocation
        if buffer.owner is self and allocation is not None and allocation.handle and self._memory is not None:
            self._memory.free(allocation)
            self.pinned_bytes -= len(buffer.array)
            self.pinned_buffers -= 1
