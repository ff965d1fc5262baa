# SPDX-License-Identifier: MIT
"""clmsd: multi-sample dropout on OpenCL, identical on every device.

A thin layer over the C extension clmsd._clmsd, which calls the library through clmsd.h itself
(docs/python.md): devices(), Context, Array (data kept on the device), Head (forward, train_step,
predict), Optimizer, and Error for every failed call.
"""
from clmsd._clmsd import (
    Array,
    Context,
    Error,
    Head,
    Optimizer,
    combines,
    devices,
    engines,
    head_workspace_size,
    losses,
    optimizers,
    rate_params,
    status_string,
    stream_words,
    streams,
    types,
    version,
)
from clmsd._clmsd import (  # the status values of clmsd.h, pinned
    SUCCESS,
    ERROR_INVALID_ARGUMENT,
    ERROR_INVALID_SIZE,
    ERROR_INVALID_RATE,
    ERROR_INVALID_BUFFER,
    ERROR_DEVICE_NOT_FOUND,
    ERROR_OPENCL,
    ERROR_BUILD,
    ERROR_CLBLAST,
    ERROR_OUT_OF_MEMORY,
    ERROR_UNSUPPORTED,
    ERROR_MPI,
)


def _bfloat16():
    """The numpy dtype bfloat16 data comes back in: ml_dtypes.bfloat16 where ml_dtypes imports,
    else uint16 holding the same 16 bits (the high half of a float32)."""
    import numpy

    try:
        import ml_dtypes
    except ImportError:
        return numpy.dtype(numpy.uint16)
    return numpy.dtype(ml_dtypes.bfloat16)


bfloat16 = _bfloat16()
__version__ = version

__all__ = [
    "Array",
    "Context",
    "Error",
    "Head",
    "Optimizer",
    "bfloat16",
    "combines",
    "devices",
    "engines",
    "head_workspace_size",
    "losses",
    "optimizers",
    "rate_params",
    "status_string",
    "stream_words",
    "streams",
    "types",
    "version",
]
