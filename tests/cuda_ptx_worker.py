"""Compiles every CUDA kernel of ``kernels.cuda`` and ``kernels.reference.cuda`` to PTX for a Hopper GPU
(sm_90), without a GPU.

The simulator runs the kernels as Python, so it cannot show that the real CUDA target accepts the
translated per-firm functions (the libdevice bit casts, NumPy casts, local and shared arrays). This
does, where libNVVM is installed (``pip install '.[cuda]'`` brings it; CI has only numba-cuda, and
``tests/test_cuda.py`` skips then). numba-cuda asks the current device for its compute capability
even when compiling PTX for a given one; with no GPU this script answers for it.

Usage: ``python -m tests.cuda_ptx_worker`` prints one line per kernel (``FAILED`` and the error for one that
does not compile; the others still are); exit status 1 when one failed, 3 when NVVM is missing.
"""

import sys
import types


def main():
    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    from numba.cuda import types as T

    from kernels.cuda import dynamic as kdyn
    from kernels.cuda import dynamic_ge as kd
    from kernels.cuda.device import cuda
    from kernels.reference.cuda import static as kc

    u1, u2 = T.uint64[::1], T.uint64[:, ::1]
    f1, f2, f3 = T.float64[::1], T.float64[:, ::1], T.float64[:, :, ::1]
    i8 = T.int64
    static = (u2, u2, f1, f1, f1, f1, i8, f2, f2, f2, f3, i8, i8, f3, f3)  # with the strata (B, M); real pairs
    signatures = {
        "_direct_kernel_f64": static,
        "_direct_kernel_f32": static,
        "_baseline_costs_kernel": (u1, u1, u1, u1, f1, f1, f1, f1, i8, f3, f1, T.float64, T.float64, f3, f3, i8, f3,
                                   T.int64[:, ::1]),
        "_dynamic_sums_kernel": (u1, u1, u1, u1, f1, f1, f1, f1, i8, f3, f2, f1, f2, T.float64, T.float64, f3, f3, f2,
                                 T.float64[:, :, :, :, ::1], i8, T.float64[:, :, :, ::1]),
    }
    register = (u2, u2, f1, f1, f1, f1, i8, f2, f2, f2, f3, i8, f3, f3)
    kernels = {name: getattr(kdyn if name in ("_baseline_costs_kernel", "_dynamic_sums_kernel") else kc, name)
               for name in signatures}
    # the per-period kernels of the dynamic ge closure (kernels.cuda.dynamic_ge)
    f4, h3 = T.float64[:, :, :, ::1], T.float32[:, :, ::1]
    i2, b3 = T.int64[:, ::1], T.boolean[:, :, ::1]
    dynamic_ge = {
        "_pair_scores_kernel": (u1, u1, f1, f1, f1, f1, i8, f3, i8, f3, f3, h3, f3),
        "_z_advance_kernel": (u1, i8, f2, i8, i2),
        "_initial_state_kernel": (u1, u1, f1, T.float64, T.float64, f3, f3, f2, f2, f3, f3, h3, f3, i2, b3, f2, f2,
                                  f2, f2),
        "_period_aggregates_kernel": (f3, f3, h3, f3, i2, f2, b3, f4, f3, f3, f3, f3, f3, f4, f4),
        "_period_commit_kernel": (f3, f3, h3, f3, i2, i2, f2, b3, b3, f4, f2, f3),
    }
    for name, signature in dynamic_ge.items():
        kernels[name], signatures[name] = getattr(kd, name), signature
    for precision in ("float32", "float32_fast"):
        name = f"register_kernel_{precision}"
        kernels[name], signatures[name] = kc.register_kernel(precision), register
    failed = 0
    for name, signature in signatures.items():
        try:
            ptx, _ = cuda.compile_ptx(kernels[name].py_func, signature, cc=(9, 0),
                                      fastmath=bool(kernels[name].targetoptions.get("fastmath")))
        except Exception as error:
            text = f"{type(error).__name__} {error}".lower()
            if any(word in text for word in ("nvvm", "nvrtc", "libdevice", "dynamiclibnotfound", "cudasupport")):
                print(f"NVVM not available: {error}")
                return 1 if failed else 3
            # a kernel that does not compile is reported and the others still are
            print(name, "FAILED", f"{type(error).__name__}: {error}".replace("\n", " ")[:2000])
            failed += 1
            continue
        print(name, "ptx lines", ptx.count("\n"), "calls", ptx.count("call.uni"), "atomics", ptx.count("atom."),
              "approx", ptx.count(".approx"), "shfl", ptx.count("shfl."))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
