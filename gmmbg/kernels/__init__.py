"""Numba kernels: arrays and numbers in, preallocated arrays out, no Python objects."""
