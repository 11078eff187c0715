"""CUDA twins of ``kernels.reference`` (numba-cuda; not on the product path): ``static``, ``fastmath``."""
