"""Tests of stingylib.data: loaders (on tiny generated files), augmentation, batches, subsets.

Fast and offline: no network and no system package needed. CIFAR and Fashion-MNIST files are
written in their real on-disk formats into ``tmp_path``; the Debian Fashion-MNIST directory is
monkeypatched.
"""

from __future__ import annotations

import dataclasses

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from stingylib import data as D
from stingylib.data import batches, fashion, fetch, registry


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch, tmp_path):
    """Empty caches per test, and no real Debian files unless a test provides some.

    Patched in the modules that read them (the package only re-exports them).
    """
    monkeypatch.setattr(registry, "_CACHE", {})
    monkeypatch.setattr(batches, "_RESIDENT", {})
    monkeypatch.setattr(fashion, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian-here")


# ---------------------------------------------------------------------------------------------
# File writers (the real formats)
# ---------------------------------------------------------------------------------------------


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_pickle(path: Path, obj: dict) -> str:
    # torchvision reads the original (Python 2) pickles with encoding="latin1", which yields str
    # keys; a Python 3 pickle with str keys loads identically.
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return _md5(path)


def _cifar_images(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)  # CHW per image, as on disk


def _write_cifar10(root: Path, monkeypatch, rng) -> dict:
    import torchvision.datasets as tvd

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_list, train_x, train_y = [], [], []
    for i in range(1, 6):
        x, y = _cifar_images(4, rng), rng.integers(0, 10, size=4).tolist()
        md5 = _write_pickle(folder / f"data_batch_{i}", {"data": x.reshape(4, -1), "labels": y})
        train_list.append([f"data_batch_{i}", md5])
        train_x.append(x)
        train_y += y
    test_x, test_y = _cifar_images(3, rng), [9, 0, 5]
    test_md5 = _write_pickle(folder / "test_batch", {"data": test_x.reshape(3, -1), "labels": test_y})
    meta_md5 = _write_pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    monkeypatch.setattr(tvd.CIFAR10, "train_list", train_list)
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", test_md5]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": meta_md5})
    return {"train_x": np.concatenate(train_x), "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _write_cifar100(root: Path, monkeypatch, rng) -> dict:
    import torchvision.datasets as tvd

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    train_x, train_y = _cifar_images(7, rng), [0, 99, 50, 3, 3, 17, 42]
    test_x, test_y = _cifar_images(2, rng), [98, 1]
    coarse = lambda ys: [y // 5 for y in ys]  # noqa: E731
    train_md5 = _write_pickle(
        folder / "train", {"data": train_x.reshape(7, -1), "fine_labels": train_y, "coarse_labels": coarse(train_y)}
    )
    test_md5 = _write_pickle(
        folder / "test", {"data": test_x.reshape(2, -1), "fine_labels": test_y, "coarse_labels": coarse(test_y)}
    )
    meta_md5 = _write_pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", train_md5]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", test_md5]])
    monkeypatch.setattr(tvd.CIFAR100, "meta", {"filename": "meta", "key": "fine_label_names", "md5": meta_md5})
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _fashion_arrays(rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "train": (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10),
        "t10k": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5], np.uint8)),
    }


def _write_fashion(folder: Path, arrays, *, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in arrays.items():
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
            else:
                (folder / name).write_bytes(_idx_bytes(arr))


def _toy_data(n_per_class: int = 6, classes: int = 10, size: int = 8) -> D.ImageData:
    info = D.DATASETS["digits"]
    y = torch.arange(classes).repeat_interleave(n_per_class)  # (N,)
    x = torch.randint(0, 256, (len(y), 1, size, size), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    test = torch.arange(0, len(y), 3)  # (N/3,) every class appears n_per_class/3 times
    return D.ImageData(info, x, y, x[test].clone(), y[test].clone())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def test_cifar10_round_trip(tmp_path, monkeypatch):
    expected = _write_cifar10(tmp_path, monkeypatch, np.random.default_rng(0))
    data = D.load_dataset("cifar10", root=tmp_path, download=False)
    assert data.info is D.DATASETS["cifar10"]
    assert data.train_x.shape == (20, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (3, 3, 32, 32)
    assert np.array_equal(data.train_x.numpy(), expected["train_x"])
    assert np.array_equal(data.test_x.numpy(), expected["test_x"])
    assert data.train_y.dtype == torch.int64 and data.train_y.tolist() == expected["train_y"]
    assert data.test_y.tolist() == expected["test_y"]
    assert data.train_x.is_contiguous()
    # cached: the second call returns the same object
    assert D.load_dataset("cifar10", root=tmp_path, download=False) is data


def test_cifar100_round_trip(tmp_path, monkeypatch):
    expected = _write_cifar100(tmp_path, monkeypatch, np.random.default_rng(1))
    data = D.load_dataset("cifar100", root=tmp_path, download=False)
    assert data.info.num_classes == 100
    assert data.train_x.shape == (7, 3, 32, 32) and data.test_x.shape == (2, 3, 32, 32)
    assert np.array_equal(data.train_x.numpy(), expected["train_x"])
    assert np.array_equal(data.test_x.numpy(), expected["test_x"])
    assert data.train_y.tolist() == expected["train_y"] and data.test_y.tolist() == expected["test_y"]


def test_cifar_missing_raises_helpful_error(tmp_path):
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.load_dataset("cifar10", root=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "cifar-10-batches-py/" in msg
    assert "internet" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_read_idx_formats(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    assert np.array_equal(fashion._read_idx(tmp_path / "a.gz"), images)
    ints = np.array([[1, -2], [70000, 3]], dtype=">i4")
    (tmp_path / "b").write_bytes(_idx_bytes(ints))
    out = fashion._read_idx(tmp_path / "b")
    assert out.tolist() == [[1, -2], [70000, 3]] and out.dtype.isnative
    floats = np.array([0.5, -1.25], dtype=">f4")
    (tmp_path / "c").write_bytes(_idx_bytes(floats))
    assert fashion._read_idx(tmp_path / "c").tolist() == [0.5, -1.25]
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an idx file"):
        fashion._read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(images)[:-1])
    with pytest.raises(ValueError, match="header"):
        fashion._read_idx(tmp_path / "short")


def test_fashion_mnist_from_debian_dir(tmp_path, monkeypatch):
    arrays = _fashion_arrays(np.random.default_rng(2))
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    _write_fashion(debian, arrays, gz=True)
    monkeypatch.setattr(fashion, "DEBIAN_FASHION_MNIST_DIR", debian)
    data = D.load_dataset("fashion-mnist", root=tmp_path / "empty", download=False)
    assert data.train_x.shape == (12, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (5, 1, 28, 28)
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train"][0])
    assert np.array_equal(data.test_x[:, 0].numpy(), arrays["t10k"][0])
    assert data.train_y.dtype == torch.int64 and data.train_y.tolist() == arrays["train"][1].tolist()
    assert data.test_y.tolist() == [3, 1, 4, 1, 5]


def test_fashion_mnist_torchvision_layout_comes_first(tmp_path, monkeypatch):
    tv_arrays = _fashion_arrays(np.random.default_rng(3))
    _write_fashion(tmp_path / "FashionMNIST" / "raw", tv_arrays, gz=False)  # torchvision's extracted files
    debian = tmp_path / "debian"
    _write_fashion(debian, _fashion_arrays(np.random.default_rng(4)), gz=True)
    monkeypatch.setattr(fashion, "DEBIAN_FASHION_MNIST_DIR", debian)
    data = D.load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert np.array_equal(data.train_x[:, 0].numpy(), tv_arrays["train"][0])
    assert data.test_y.tolist() == tv_arrays["t10k"][1].tolist()


def test_fashion_mnist_missing_message(tmp_path):
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.load_dataset("fashion-mnist", root=tmp_path, download=False)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert str(tmp_path / "FashionMNIST" / "raw") in msg
    assert str(fashion.DEBIAN_FASHION_MNIST_DIR) in msg


def test_digits_offline():
    data = D.load_dataset("digits")
    assert data.train_x.shape == (1347, 1, 8, 8) and data.test_x.shape == (450, 1, 8, 8)
    assert data.train_x.dtype == torch.uint8 and int(data.train_x.max()) == 255
    assert set(data.train_y.tolist()) == set(range(10)) == set(data.test_y.tolist())
    # stratified split: every class has ~1/4 of its samples in the test split
    per_class_test = torch.bincount(data.test_y, minlength=10)
    per_class_all = per_class_test + torch.bincount(data.train_y, minlength=10)
    assert ((per_class_test - per_class_all / 4).abs() <= 1).all()
    # the hard-coded normalisation constants are the train split's statistics
    pixels = data.train_x.double() / 255
    assert abs(pixels.mean().item() - data.info.mean[0]) < 1e-3
    assert abs(pixels.std(unbiased=False).item() - data.info.std[0]) < 1e-3
    # deterministic across fresh loads
    registry._CACHE.clear()
    again = D.load_dataset("digits")
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_y, data.test_y)


def test_bad_names_and_arguments():
    with pytest.raises(ValueError, match="cifar10.*digits.*fashion-mnist"):
        D.load_dataset("mnist")
    with pytest.raises(ValueError, match="dataset name"):
        D.ensure_dataset("svhn")
    data = _toy_data()
    with pytest.raises(ValueError, match="batch_size"):
        D.train_batches(data, batch_size=0, epoch=0, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        D.test_batches(data, batch_size=-1)
    with pytest.raises(ValueError, match="epoch"):
        D.train_batches(data, batch_size=4, epoch=-1, seed=0)
    with pytest.raises(ValueError, match="crop_padding"):
        D.augment(data.train_x, crop_padding=-1, flip=False, generator=torch.Generator())
    with pytest.raises(ValueError, match="uint8"):
        D.normalize(data.train_x.float(), data.info)
    with pytest.raises(ValueError, match="train_x"):
        D.ImageData(data.info, data.train_x.float(), data.train_y, data.test_x, data.test_y)


def test_ensure_digits_and_cli(capsys):
    assert D.ensure_dataset("digits") is None
    assert D.main(["ensure", "digits"]) == 0
    assert "(1347, 1, 8, 8)" in capsys.readouterr().out


def test_ensure_fashion_uses_existing_files_without_apt(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    _write_fashion(debian, _fashion_arrays(np.random.default_rng(5)), gz=True)
    monkeypatch.setattr(fashion, "DEBIAN_FASHION_MNIST_DIR", debian)

    def no_subprocess(*args, **kwargs):
        raise AssertionError("ensure_dataset must not run apt-get when the data is there")

    monkeypatch.setattr(fetch.subprocess, "run", no_subprocess)
    D.ensure_dataset("fashion-mnist", root=tmp_path / "empty")


# ---------------------------------------------------------------------------------------------
# Augmentation and normalisation
# ---------------------------------------------------------------------------------------------


def test_augment_shapes_dtype_determinism():
    x = torch.randint(0, 256, (16, 3, 10, 10), dtype=torch.uint8)
    a = D.augment(x, crop_padding=2, flip=True, generator=torch.Generator().manual_seed(7))
    b = D.augment(x, crop_padding=2, flip=True, generator=torch.Generator().manual_seed(7))
    c = D.augment(x, crop_padding=2, flip=True, generator=torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    f = D.augment(x.float(), crop_padding=2, flip=True, generator=torch.Generator().manual_seed(7))
    assert f.dtype == torch.float32 and torch.equal(f, a.float())
    assert D.augment(x, crop_padding=0, flip=False, generator=torch.Generator()) is x


def test_augment_flip_only_flips_flagged_images():
    x = torch.randint(0, 256, (32, 2, 5, 7), dtype=torch.uint8)
    out = D.augment(x, crop_padding=0, flip=True, generator=torch.Generator().manual_seed(3))
    flags = torch.rand(32, generator=torch.Generator().manual_seed(3)) < 0.5  # the documented draw
    assert 0 < int(flags.sum()) < 32
    expected = torch.where(flags[:, None, None, None], x.flip(-1), x)
    assert torch.equal(out, expected)


def test_augment_crop_is_shifted_zero_padded_image():
    p, g_seed = 3, 11
    x = torch.randint(1, 256, (24, 3, 9, 9), dtype=torch.uint8)  # no zeros, so padding is visible
    out = D.augment(x, crop_padding=p, flip=False, generator=torch.Generator().manual_seed(g_seed))
    g = torch.Generator().manual_seed(g_seed)
    dy = torch.randint(0, 2 * p + 1, (24,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (24,), generator=g)
    padded = torch.nn.functional.pad(x.int(), (p, p, p, p)).to(torch.uint8)
    for i in range(24):
        window = padded[i, :, dy[i] : dy[i] + 9, dx[i] : dx[i] + 9]
        assert torch.equal(out[i], window), i
    assert (dy != p).any() and (dx != p).any()
    # a flagged flip after the crop mirrors the crop
    both = D.augment(x, crop_padding=p, flip=True, generator=torch.Generator().manual_seed(g_seed))
    flags = torch.rand(24, generator=g) < 0.5
    assert torch.equal(both, torch.where(flags[:, None, None, None], out.flip(-1), out))


def test_augment_takes_a_generator_on_the_cpu_or_on_the_images_device():
    x = torch.randint(0, 256, (16, 3, 6, 6), dtype=torch.uint8)  # CPU images
    default = D.augment(x, crop_padding=2, flip=True, generator=torch.Generator().manual_seed(4))
    on_cpu = D.augment(x, crop_padding=2, flip=True, generator=torch.Generator(device="cpu").manual_seed(4))
    assert torch.equal(default, on_cpu)
    with pytest.raises(ValueError, match="generator must be a torch.Generator on the CPU or on x's device"):
        D.augment(x, crop_padding=2, flip=True, generator=4)


def test_normalize():
    info = D.DATASETS["cifar10"]
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    out = D.normalize(x, info)
    assert out.dtype == torch.float32 and out.shape == x.shape
    for ch in range(3):
        ref = (x[:, ch].double() / 255 - info.mean[ch]) / info.std[ch]
        assert torch.allclose(out[:, ch].double(), ref, atol=1e-5)
    # the mean/std tensors are made once per (dataset, device), then reused
    mean, std = batches._NORM[(info, x.device)]
    assert torch.equal(D.normalize(x, info), out) and batches._NORM[(info, x.device)][0] is mean


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def _collect(it):
    xs, ys = zip(*it)
    return list(xs), list(ys)


def test_train_batches_deterministic_and_cover_every_sample():
    data = _toy_data()  # 60 images, labels 0..9
    xs1, ys1 = _collect(D.train_batches(data, batch_size=16, epoch=2, seed=5))
    xs2, ys2 = _collect(D.train_batches(data, batch_size=16, epoch=2, seed=5))
    assert [x.shape[0] for x in xs1] == [16, 16, 16, 12]
    assert all(torch.equal(a, b) for a, b in zip(xs1, xs2)) and all(torch.equal(a, b) for a, b in zip(ys1, ys2))
    assert xs1[0].dtype == torch.float32 and ys1[0].dtype == torch.int64

    # every sample exactly once per epoch: without augmentation the batches are a permutation
    plain_x, plain_y = _collect(D.train_batches(data, batch_size=16, epoch=2, seed=5, augment_data=False))
    all_x = torch.cat(plain_x)
    ref = D.normalize(data.train_x, data.info)
    perm = torch.randperm(60, generator=torch.Generator().manual_seed(5 * 1_000_003 + 2))  # documented seeding
    assert torch.equal(all_x, ref[perm]) and torch.equal(torch.cat(plain_y), data.train_y[perm])
    assert sorted(perm.tolist()) == list(range(60))
    # labels of the augmented run follow the same permutation
    assert torch.equal(torch.cat(ys1), data.train_y[perm])

    # a different epoch (or seed) gives a different order
    other_epoch = torch.cat(_collect(D.train_batches(data, batch_size=16, epoch=3, seed=5, augment_data=False))[0])
    other_seed = torch.cat(_collect(D.train_batches(data, batch_size=16, epoch=2, seed=6, augment_data=False))[0])
    assert not torch.equal(other_epoch, all_x) and not torch.equal(other_seed, all_x)


def test_train_batches_drop_last_and_test_batches_in_order():
    data = _toy_data()
    sizes = [x.shape[0] for x, _ in D.train_batches(data, batch_size=16, epoch=0, seed=0, drop_last=True)]
    assert sizes == [16, 16, 16]
    xs, ys = _collect(D.test_batches(data, batch_size=7))
    assert [x.shape[0] for x in xs] == [7, 7, 6]  # 20 test images
    assert torch.equal(torch.cat(xs), D.normalize(data.test_x, data.info))
    assert torch.equal(torch.cat(ys), data.test_y)


def _pinned_toy(name: str, n: int, size: int) -> D.ImageData:
    info = D.DATASETS[name]
    y = torch.arange(n) % info.num_classes  # (N,)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (n, info.channels, size, size), generator=g, dtype=torch.uint8)
    return D.ImageData(info, x, y, x[: n // 3].clone(), y[: n // 3].clone())


def _digest(batch_iter) -> str:
    h = hashlib.sha256()
    for x, y in batch_iter:
        h.update(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
    return h.hexdigest()[:16]


# Computed with the code before the GPU data path (one CPU generator: permutation, then per batch
# row offsets, column offsets, flip flags); CPU batches must stay bit-identical, so that CPU runs
# and CPU resume reproduce the committed results.
PINNED_CPU_BATCHES = {
    "digits": ("8c4e1ebd80903ae6", "2e1ccffeff24355e", "1cf21710555b42f1", "fac692c9bcc12642"),
    "cifar10": ("6713a705fc40422a", "cda2f50832a16401", "ada122d7042a6f44", "bbd3b3ca9202389b"),
    "fashion-mnist": ("f8342f5e4c31383b", "ba5eb24cc6c37790", "0e99e88d03bfc3da", "caa4707458c26921"),
}


@pytest.mark.parametrize("name, n, size", [("digits", 60, 8), ("cifar10", 37, 6), ("fashion-mnist", 23, 5)])
def test_cpu_batches_are_bit_identical_to_the_pinned_ones(name, n, size):
    data = _pinned_toy(name, n, size)
    got = (
        _digest(D.train_batches(data, batch_size=16, epoch=3, seed=7)),
        _digest(D.train_batches(data, batch_size=16, epoch=3, seed=7, augment_data=False)),
        _digest(D.train_batches(data, batch_size=10, epoch=0, seed=0, drop_last=True)),
        _digest(D.test_batches(data, batch_size=5)),
    )
    assert got == PINNED_CPU_BATCHES[name]


def test_batches_never_synchronise_with_the_host(monkeypatch):
    # Data and generators exist before the patch: ImageData's validation syncs once, by design.
    cifar, digits = _pinned_toy("cifar10", 37, 6), _pinned_toy("digits", 60, 8)  # crop + flip; crop only

    def host_sync(*args, **kwargs):
        raise AssertionError("host synchronisation in the per-batch path")

    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, host_sync)
    with pytest.raises(AssertionError, match="host synchronisation"):
        int(torch.zeros((), dtype=torch.int64))  # the patch is active
    for data in (cifar, digits):
        train = list(D.train_batches(data, batch_size=8, epoch=1, seed=3))  # with augmentation
        test = list(D.test_batches(data, batch_size=8))
        assert sum(y.numel() for _, y in train) == data.train_y.numel()
        assert sum(y.numel() for _, y in test) == data.test_y.numel()


def test_resident_on_the_cpu_is_the_data_itself():
    data = _toy_data()
    assert D.resident(data, "cpu") is data
    assert D.resident(data, torch.device("cpu")) is D.resident(data, "cpu") is data
    assert batches._RESIDENT == {}  # nothing to move, nothing cached


def test_resident_moves_once_and_caches(monkeypatch):
    # "meta" stands in for an accelerator (no CUDA here); meta tensors cannot be validated.
    monkeypatch.setattr(registry.ImageData, "__post_init__", lambda self: None)
    data, other = _toy_data(), _toy_data(n_per_class=3)
    moved = D.resident(data, "meta")
    assert moved is not data and moved.info is data.info
    assert all(t.device.type == "meta" for t in (moved.train_x, moved.train_y, moved.test_x, moved.test_y))
    assert moved.train_x.shape == data.train_x.shape
    assert D.resident(data, "meta") is moved  # cached
    assert D.resident(moved, "meta") is moved  # already there
    assert D.resident(other, "meta") is not moved  # one dataset per device: `data` is dropped
    assert all(entry[0] is not data for entry in batches._RESIDENT.values())


def test_the_package_reexports_every_public_name():
    assert D.__all__ == [
        "DatasetInfo", "DATASETS", "ImageData", "DatasetNotFoundError", "DEBIAN_FASHION_MNIST_DIR",
        "load_dataset", "register_dataset", "split_validation", "VALIDATION_SEED", "class_balanced_subset", "augment",
        "normalize", "resident", "train_batches", "test_batches", "ensure_dataset", "main",
    ]
    for name in D.__all__:
        assert getattr(D, name) is not None, name
    assert D.DEBIAN_FASHION_MNIST_DIR == Path("/usr/share/datasets/fashion-mnist")  # the real default
    assert D.load_dataset is registry.load_dataset and D.train_batches is batches.train_batches


def test_loaders_register_their_datasets_and_a_new_one_needs_no_library_edit(monkeypatch):
    # the built-in loader modules registered themselves; the registry knows no dataset by name
    assert set(D.DATASETS) == {"cifar10", "cifar100", "fashion-mnist", "digits"}
    assert {name: loader.__module__ for name, (loader, _) in registry._LOADERS.items()} == {
        "cifar10": "stingylib.data.cifar", "cifar100": "stingylib.data.cifar", "fashion-mnist": "stingylib.data.fashion",
        "digits": "stingylib.data.digits"}
    monkeypatch.setattr(registry, "DATASETS", dict(registry.DATASETS))
    monkeypatch.setattr(registry, "_LOADERS", dict(registry._LOADERS))
    calls = []

    def load_toy(info, root, download):
        calls.append((root, download))
        return _toy_data(n_per_class=3)

    toy_info = _toy_data(n_per_class=1).info
    info = D.register_dataset(dataclasses.replace(toy_info, name="toy"), load_toy, uses_root=False)
    assert registry.DATASETS["toy"] is info
    assert registry.load_dataset("toy").train_x.shape[0] == 30 and calls == [(None, True)]
    registry.load_dataset("toy")
    assert len(calls) == 1  # cached
    with pytest.raises(ValueError, match="a dataset named 'digits' is registered already"):
        D.register_dataset(dataclasses.replace(toy_info, num_classes=3), load_toy)  # another dataset, same name


# ---------------------------------------------------------------------------------------------
# Subsets
# ---------------------------------------------------------------------------------------------


def test_class_balanced_subset():
    data = _toy_data(n_per_class=6)
    sub = D.class_balanced_subset(data, train_per_class=4, test_per_class=None, seed=3)
    assert torch.bincount(sub.train_y, minlength=10).tolist() == [4] * 10
    assert sub.test_x is data.test_x  # None keeps the split
    again = D.class_balanced_subset(data, train_per_class=4, test_per_class=None, seed=3)
    assert torch.equal(sub.train_x, again.train_x) and torch.equal(sub.train_y, again.train_y)
    other = D.class_balanced_subset(data, train_per_class=4, test_per_class=None, seed=4)
    assert not torch.equal(sub.train_x, other.train_x)
    # original order kept: labels of the toy data are sorted, so are the subset's
    assert torch.equal(sub.train_y, sub.train_y.sort().values)
    both = D.class_balanced_subset(data, train_per_class=1, test_per_class=2, seed=0)
    assert torch.bincount(both.test_y, minlength=10).tolist() == [2] * 10 and both.train_x.shape[0] == 10
    with pytest.raises(ValueError, match="class 0 has only 6"):
        D.class_balanced_subset(data, train_per_class=7, test_per_class=None)
    with pytest.raises(ValueError, match="test_per_class"):
        D.class_balanced_subset(data, train_per_class=None, test_per_class=0)
