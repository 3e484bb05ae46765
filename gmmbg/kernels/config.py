"""One place for the Numba flags every kernel uses.

fastmath leaves out `nnan` and `ninf`: the kernels test for non-finite values and log(0),
and those flags would let LLVM delete the tests (umap removed fastmath for that reason).
"""

import os

# How Numba's OpenMP threads wait between parallel regions. libgomp's default spins about
# 300,000 rounds: on a busy 2-core machine that made 2 threads slower than 1 (astronaut
# segmentation: 1.3-2.6 s spinning, 0.25-0.30 s passive). Sleeping at once (passive) costs
# every parallel region the worker's wake-up instead: 85 us back to back, 140 us after 1 ms
# of other work on this 2-core VM, a tenth of a 320x240 online update (one region per frame).
# A short spin, 3,000 rounds, starts a region in 3 us when frames come back to back and
# sleeps otherwise (0.1 core busy between regions; plant_cells segmentation with a busy
# loop on the other core: 1.8-1.9 s, passive 2.1 s). Set before the OpenMP runtime starts,
# at the first parallel call; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "3000")

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT = {"cache": True, "nogil": True, "fastmath": FASTMATH}
PARALLEL_JIT = {**JIT, "parallel": True}
