"""Model files are checked from their zip directory and .npy headers before any array is read.

Each hostile file below used to be read in full first (a header claiming 10¹²
elements ended in MemoryError, a 2 MB zip bomb took seconds and gigabytes,
metadata hidden [65536, 65536] asked for 32 GiB, complex weights lost their
imaginary part silently). Now each is one InputError line (CLI exit 2), and
nothing is allocated on the way.
"""
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import InputError
from chainrule.nn import module
from chainrule.nn.module import META_KEY, StateDictError, load_arrays


def _npy(arr=None, *, header=None, payload=b"") -> bytes:
    """A .npy file: ``arr`` written by NumPy, or a hand-made ``header`` followed by ``payload``."""
    f = io.BytesIO()
    if arr is not None:
        np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(payload)
    return f.getvalue()


def _zip(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _meta(d) -> bytes:
    return _npy(np.array(json.dumps(d)))


@pytest.fixture
def no_array_read(monkeypatch):
    """Fail the test if any array's data is read."""
    def refuse(*a, **k):
        raise AssertionError("an array was read before the file was checked")
    monkeypatch.setattr(np.lib.format, "read_array", refuse)


def test_round_trip_keeps_dtypes_shapes_and_order(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.asfortranarray(np.eye(3) * 2.5),
              "c": np.float64(4.0), "d": np.zeros((0, 5)), "e": np.ones(3, dtype=np.float16)}
    module.save_arrays(tmp_path / "m.npz", arrays, {"k": 1})
    back, meta = load_arrays(tmp_path / "m.npz")
    assert meta == {"k": 1} and set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_a_header_claiming_a_trillion_elements_is_refused_from_the_header(tmp_path, no_array_read):
    head = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    path = _zip(tmp_path / "huge.npz", {"w.npy": _npy(header=head, payload=b"\0" * 64)})
    with pytest.raises(InputError, match=r"'w' claims shape \(1000000, 1000000\) \(8,000,000,000,000 bytes\), "
                                         r"more than the 1,073,741,824 bytes allowed"):
        load_arrays(path)


def test_a_header_that_disagrees_with_the_data_size_is_refused(tmp_path, no_array_read):
    head = {"descr": "<f8", "fortran_order": False, "shape": (100,)}
    path = _zip(tmp_path / "short.npz", {"w.npy": _npy(header=head, payload=b"\0" * 80)})
    with pytest.raises(InputError, match=r"'w' claims shape \(100,\) \(800 bytes\) but holds 80 bytes"):
        load_arrays(path)
    head = {"descr": "<f8", "fortran_order": False, "shape": (-2, -4)}
    path = _zip(tmp_path / "neg.npz", {"w.npy": _npy(header=head, payload=b"\0" * 64)})
    with pytest.raises(InputError, match="negative shape"):
        load_arrays(path)


def test_a_zip_bomb_is_refused_from_the_zip_directory_without_unpacking(tmp_path, no_array_read):
    zeros = np.zeros(4 * 2**20)                      # 32 MiB of zeros: about 32 kB deflated
    path = _zip(tmp_path / "bomb.npz", {"w.npy": _npy(zeros)}, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"unpacks to 33,554,560 bytes, more than the 1,000,000 allowed"):
            load_arrays(path, max_bytes=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


def test_the_size_cap_has_a_documented_default_and_can_be_raised(tmp_path, monkeypatch):
    assert module.MAX_LOAD_BYTES == 2**30
    path = _zip(tmp_path / "m.npz", {"w.npy": _npy(np.ones(1000))})
    monkeypatch.setattr(module, "MAX_LOAD_BYTES", 4000)
    with pytest.raises(InputError, match="more than the 4,000 allowed"):
        load_arrays(path)
    assert load_arrays(path, max_bytes=10_000)[0]["w"].shape == (1000,)
    with pytest.raises(InputError, match="max_bytes must be a whole number"):
        load_arrays(path, max_bytes=-1)


@pytest.mark.parametrize("arr, what", [
    (np.ones(3, dtype=np.complex128), "complex"),
    (np.ones(3, dtype=np.int64), "int64"),
    (np.ones(3, dtype=bool), "bool"),
    (np.array(["a", "b"]), "<U1"),
    (np.zeros(2, dtype=[("x", "<f8")]), r"\[\('x', '<f8'\)\]"),
    (np.ones(3, dtype=np.longdouble) if np.dtype(np.longdouble).itemsize > 8 else np.ones(3, np.complex64),
     "float128|complex"),
])
def test_only_real_float_arrays_are_accepted(tmp_path, arr, what, no_array_read):
    path = _zip(tmp_path / "m.npz", {"w.npy": _npy(arr)})
    with pytest.raises(InputError, match=f"'w' holds ({what}) values; a model's weights are real floats"):
        load_arrays(path)


def test_complex_state_dicts_are_refused_not_truncated():
    layer = nn.Linear(2, 2)
    before = layer.weight.data.copy()
    with pytest.raises(StateDictError, match="weight: complex numbers"):
        layer.load_state_dict({"weight": np.ones((2, 2)) * (1 + 2j), "bias": np.zeros(2)})
    np.testing.assert_array_equal(layer.weight.data, before)


@pytest.mark.parametrize("members, message", [
    ({"w.txt": b"hello"}, "'w.txt', which is not a .npy array"),
    ({"w.npy": b"\x93NUMPY garbage"}, "'w' has a damaged header"),
    ({"w.npy": _npy(np.ones(2)), META_KEY + ".npy": _npy(np.ones(2))}, f"its {META_KEY} entry is not a text"),
    ({"w.npy": _npy(np.ones(2)), META_KEY + ".npy": _npy(np.array("x" * 300_000))},
     f"'{META_KEY}' claims shape"),
])
def test_malformed_members_are_refused(tmp_path, members, message):
    path = _zip(tmp_path / "m.npz", members)
    with pytest.raises(InputError, match=message):
        load_arrays(path)


def _digits_file(tmp_path, hidden, arrays_hidden=(4,)):
    """A digits model file whose metadata says ``hidden`` but whose arrays are for ``arrays_hidden``."""
    from chainrule.nn import digits
    model = digits.build_mlp(arrays_hidden, 0)
    meta = {"format": 1, "class": "Sequential", "kind": "digits-mlp", "hidden": list(hidden), "seed": 0}
    return module.save_arrays(tmp_path / "model.npz", model.state_dict(), meta)


def test_metadata_asking_for_32_gib_is_refused_before_building_the_model(tmp_path):
    from chainrule.nn import digits
    path = _digits_file(tmp_path, [65536, 65536])
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"metadata says hidden \[65536, 65536\], so 0.weight should have "
                                             r"shape \(65536, 64\), but it is shape \(4, 64\)"):
            digits.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    model, meta = digits.load_model(_digits_file(tmp_path, [4]))      # an honest file still loads
    assert meta["hidden"] == [4] and model[0].weight.shape == (4, 64)


def test_the_cli_refuses_a_hostile_model_with_one_line_and_exit_2(tmp_path, capsys):
    from chainrule.cli import main
    head = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    meta = {"format": 1, "kind": "digits-mlp", "hidden": [4], "seed": 0}
    path = _zip(tmp_path / "m.npz", {"0.weight.npy": _npy(header=head), META_KEY + ".npy": _meta(meta)})
    assert main(["digits", "explain", "--model", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "claims shape (1000000, 1000000)" in err and err.count("\n") == 1
    complex_file = _digits_file(tmp_path, [4])
    arrays, meta = load_arrays(complex_file)
    arrays["0.weight"] = arrays["0.weight"] * (1 + 1j)
    np.savez(tmp_path / "c.npz", **arrays, **{META_KEY: np.array(json.dumps(meta))})
    assert main(["digits", "explain", "--model", str(tmp_path / "c.npz"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'0.weight' holds complex values" in err and err.count("\n") == 1
