"""Private Numba kernels. Pure functions: arrays in, arrays out.

Each kernel has a plain reference in ``tests/reference.py`` or in the torch
backend, and a test that the two agree. Tests also run with
``NUMBA_DISABLE_JIT=1``, where these functions run as ordinary Python.
"""
