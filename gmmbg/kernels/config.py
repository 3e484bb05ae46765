"""One place for the Numba flags every kernel uses.

fastmath leaves out `nnan` and `ninf`: the kernels test for non-finite values and log(0),
and those flags would let LLVM delete the tests (umap removed fastmath for that reason).
"""

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT = {"cache": True, "nogil": True, "fastmath": FASTMATH}
PARALLEL_JIT = {**JIT, "parallel": True}
