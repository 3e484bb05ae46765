"""One place for the Numba flags every kernel uses.

fastmath leaves out `nnan` and `ninf`: the kernels test for non-finite values and log(0),
and those flags would let LLVM delete the tests (umap removed fastmath for that reason).
"""

import os

# Numba's OpenMP threads otherwise spin between parallel regions; the kernels launch one
# region per frame or EM step, and on a busy 2-core machine the spinning made 2 threads slower
# than 1 (astronaut segmentation: 1.3-2.6 s spinning, 0.25-0.30 s passive). Set before the
# OpenMP runtime starts, which happens at the first parallel call; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT = {"cache": True, "nogil": True, "fastmath": FASTMATH}
PARALLEL_JIT = {**JIT, "parallel": True}
