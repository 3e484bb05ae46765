"""Large arrays on transparent huge pages (Linux), for state a kernel walks every frame.

A 1280x720 online model holds about 90 MiB of state, which the update streams through
every frame and revisits out of order for the pixels that need MOG2's general update; with
the state on 2 MiB pages instead of 4 KiB ones the update ran about 5% faster at 640x480 and
1280x720 (fewer TLB misses). NumPy advises huge pages for large allocations too, but the
model's ``numpy.zeros`` state got them for about 30 MiB of its 90 (measured in
/proc/self/smaps_rollup); an anonymous mapping advised before its first touch gets them
throughout. Elsewhere, or where the kernel refuses the advice, this is ``numpy.zeros``.
"""

from __future__ import annotations

import mmap

import numpy as np

_HUGE_PAGE = 2 << 20
# Below a few huge pages the TLB holds the whole array anyway.
_MIN_BYTES = 4 * _HUGE_PAGE


def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array of zeros ``shape``, ``dtype``, on huge pages where possible."""
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if n_bytes < _MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros(shape, dtype)
    # One huge page more than needed, so that the array can start on a huge-page boundary.
    size = -(-n_bytes // _HUGE_PAGE) * _HUGE_PAGE + _HUGE_PAGE
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # transparent huge pages disabled in this kernel: plain pages
        pass
    raw = np.frombuffer(buffer, np.uint8)  # zeroed by the OS; keeps the mapping alive
    start = -raw.ctypes.data % _HUGE_PAGE
    return raw[start : start + n_bytes].view(dtype).reshape(shape)
