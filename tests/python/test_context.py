# SPDX-License-Identifier: MIT
"""clmsd.devices() and clmsd.Context: the device list, contexts by spec, closing, the context
manager, and clmsd.Error from a failed creation."""
import pytest

import clmsd

FIELDS = {"platform_index", "device_index", "spec", "platform_name", "device_name", "vendor", "driver_version",
          "opencl_version", "is_gpu", "compute_units", "max_clock_mhz", "global_mem_bytes", "local_mem_bytes",
          "max_work_group_size", "denormals"}


def test_devices_lists_every_field():
    devices = clmsd.devices()
    assert devices, "no OpenCL device"
    for d in devices:
        assert set(d) == FIELDS
        assert d["spec"] == "%d:%d" % (d["platform_index"], d["device_index"])
        assert d["device_name"] and d["compute_units"] >= 1 and d["global_mem_bytes"] > 0
        assert isinstance(d["is_gpu"], bool)


def test_context_on_a_device_spec(ctx):
    spec = clmsd.devices()[0]["spec"]
    with clmsd.Context(spec) as c:
        assert not c.closed
        assert c.device_name == "%s / %s" % (clmsd.devices()[0]["platform_name"], clmsd.devices()[0]["device_name"])
        assert c.tiling in ("cpu", "gpu")
        assert c.device_name in repr(c)
    assert c.closed
    assert "closed" in repr(c)


def test_session_context(ctx):
    assert ctx.tiling in ("cpu", "gpu") and ctx.device_name
    ctx.finish()


def test_close_twice_and_use_after_close():
    c = clmsd.Context()
    c.close()
    c.close()  # a no-op
    for use in (lambda: c.device_name, lambda: c.tiling, c.warmup, c.finish, lambda: c.empty(4),
                lambda: c.head(batch=1, features=1, classes=1, samples=1)):
        with pytest.raises(ValueError, match="the context is closed"):
            use()
    with pytest.raises(ValueError, match="closed"):
        with c:
            pass


def test_unknown_device_is_a_clmsd_error():
    with pytest.raises(clmsd.Error) as e:
        clmsd.Context("no device has this name")
    assert isinstance(e.value, RuntimeError)
    assert e.value.status == clmsd.ERROR_DEVICE_NOT_FOUND
    assert e.value.status_name == clmsd.status_string(clmsd.ERROR_DEVICE_NOT_FOUND) == "device not found"
    assert "no device has this name" in str(e.value)


def test_context_arguments():
    with pytest.raises(TypeError):
        clmsd.Context(3)
    with pytest.raises(TypeError):
        clmsd.Context(nodevice="0:0")


def test_module_names():
    assert clmsd.version == clmsd.__version__ and clmsd.version.count(".") == 2
    assert clmsd.losses == ("softmax_cross_entropy", "bce_with_logits", "mse", "huber")
    assert clmsd.combines == ("average_losses", "average_logits")
    assert clmsd.engines == ("auto", "clblast", "fused")
    assert clmsd.streams == ("philox_v1", "philox_v1_u8")
    assert clmsd.types == ("float32", "float16", "bfloat16")
    assert clmsd.optimizers == ("sgd", "adamw")
    assert clmsd.SUCCESS == 0 and clmsd.ERROR_INVALID_SIZE == 2 and clmsd.ERROR_MPI == 11
