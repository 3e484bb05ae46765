"""gmmbg.hugepages: zeroed, contiguous, writable arrays, on huge-page boundaries when large."""

import mmap
import sys

import numpy as np
import pytest

from gmmbg import hugepages


@pytest.mark.parametrize("shape", [(3, 5), (5, 1280 * 720)])
def test_zeros_are_zero_contiguous_and_writable(shape):
    array = hugepages.zeros(shape, np.float32)
    assert array.shape == shape and array.dtype == np.float32
    assert array.flags.c_contiguous and array.flags.writeable
    assert not array.any()
    array[...] = 1.5
    assert (array == 1.5).all()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"),
    reason="transparent huge pages are a Linux feature",
)
def test_large_arrays_start_on_a_huge_page():
    array = hugepages.zeros((1280 * 720, 4, 4), np.float32)
    assert array.ctypes.data % (2 << 20) == 0
    owner = array
    while isinstance(owner, (np.ndarray, memoryview)):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    assert isinstance(owner, mmap.mmap)  # the array keeps its mapping alive


def test_small_arrays_are_plain_numpy():
    array = hugepages.zeros((10,), np.uint8)
    assert array.base is None
