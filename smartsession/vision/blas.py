"""Keep numpy's BLAS (OpenBLAS) on one thread in this process.

The face network's matrix products are small (16 x 2304 by 2304 x 256 at the deep end):
OpenBLAS splits them across threads that then spin waiting for each other, and on a busy
two-core lab machine one descriptor took 600 ms of CPU that way against 16 ms on one thread.
``OPENBLAS_NUM_THREADS`` only counts before numpy is imported, so this calls OpenBLAS's own
``*_set_num_threads`` in the library numpy has loaded (what ``threadpoolctl`` does).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

#: The setter's name in OpenBLAS builds: plain, numpy's 64-bit-integer build, and older wheels.
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_openblas() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line}
    return sorted(paths)


def limit_blas_threads(threads: int = 1) -> bool:
    """Set OpenBLAS's thread count in this process; True if a loaded OpenBLAS took it.

    Import numpy first (this looks for the library already mapped). Elsewhere than Linux, or
    with another BLAS, nothing happens and False comes back.
    """
    import numpy  # noqa: F401  (numpy loads its BLAS)

    done = False
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter(threads)
                done = True
                break
    return done
