"""Slow, obviously-correct NumPy references that the kernels are tested against.

One module per kernel family: ``mixture`` (EM over samples, k-means), ``pixel`` (per-pixel
batch EM and k-means over time), ``online`` (the recursive MOG2 update).
"""
