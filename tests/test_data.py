"""minijoint.data: the digits split, CIFAR/Tiny-ImageNet readers on tiny fake files, the loader,
augmentation."""
import pickle
import struct
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minijoint
from minijoint import Tensor
from minijoint.data import (CIFAR10_MEAN, CIFAR10_STD, DataLoader, cifar_augment, cifar_normalize,
                            horizontal_flip, load_cifar10, load_cifar100, load_dataset, load_digits,
                            load_tiny_imagenet, random_crop, stratified_split)


# ---- digits ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shapes_dtypes_ranges(digits):
    (x_tr, y_tr), (x_te, y_te) = digits
    assert x_tr.shape == (1437, 1, 8, 8) and x_te.shape == (360, 1, 8, 8)
    assert y_tr.shape == (1437,) and y_te.shape == (360,)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0
    np.testing.assert_array_equal(x_tr * 16, np.round(x_tr * 16))  # pixel / 16 exactly
    assert set(np.unique(y_te)) == set(range(10))


def test_digits_split_is_stratified_and_deterministic(digits):
    (x_tr, y_tr), (x_te, y_te) = digits
    counts = np.bincount(np.concatenate([y_tr, y_te]))
    assert counts.sum() == 1797
    np.testing.assert_array_less(np.abs(np.bincount(y_te) - 360 * counts / 1797), 1.0)
    (x2, y2), (x3, y3) = load_digits()
    np.testing.assert_array_equal(x2, x_tr)
    np.testing.assert_array_equal(y3, y_te)
    # the split is a partition of scikit-learn's 1,797 images, in their order
    from sklearn.datasets import load_digits as sk_digits
    bunch = sk_digits()
    tr, te = stratified_split(bunch.target, 360, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(1797))
    np.testing.assert_array_equal(x_te[:, 0] * 16, bunch.images[te])
    np.testing.assert_array_equal(y_tr, bunch.target[tr])


@settings(max_examples=30)
@given(counts=st.lists(st.integers(1, 12), min_size=2, max_size=6), frac=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**16))
def test_stratified_split_properties(counts, frac, seed):
    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    n = len(y)
    test_size = min(max(1, int(round(frac * n))), n - 1)
    tr, te = stratified_split(y, test_size, seed)
    assert len(te) == test_size
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(n))
    per_class = np.bincount(y[te], minlength=len(counts))
    assert np.all(np.abs(per_class - test_size * np.array(counts) / n) < 1.0)
    tr2, te2 = stratified_split(y, test_size, seed)
    np.testing.assert_array_equal(te, te2)


# ---- CIFAR (tiny fakes in the official pickle format) ----------------------------------------
def _batch(rng, n, label_keys, num_classes):
    d = {b"batch_label": b"fake batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"img_%d.png" % i for i in range(n)]}
    for key, k in zip(label_keys, num_classes):
        d[key] = rng.integers(0, k, n).tolist()
    return d


def _write(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))  # the files were written by Python 2


def _make_cifar(tmp_path, which="cifar10", n=3):
    """tmp_path/<folder>/... and tmp_path/archive/<archive>; returns (folder, archive, batches)."""
    rng = np.random.default_rng(0)
    if which == "cifar10":
        folder, keys, ks = "cifar-10-batches-py", [b"labels"], [10]
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta = ("batches.meta", {b"label_names": [b"c%d" % i for i in range(10)]})
    else:
        folder, keys, ks = "cifar-100-python", [b"fine_labels", b"coarse_labels"], [100, 20]
        names = ["train", "test"]
        meta = ("meta", {b"fine_label_names": [b"f%d" % i for i in range(100)]})
    (tmp_path / folder).mkdir()
    batches = {name: _batch(rng, n + i, keys, ks) for i, name in enumerate(names)}
    for name, b in list(batches.items()) + [meta]:
        _write(tmp_path / folder / name, b)
    (tmp_path / "archive").mkdir()
    archive = tmp_path / "archive" / (folder.replace("-batches-py", "-python") + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / folder, arcname=folder)
    return tmp_path / folder, archive, batches


def _expected(batches, names, key):
    x = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32) / 255.0
    return x.astype(np.float32), np.concatenate([batches[n][key] for n in names])


@pytest.mark.parametrize("where", ["folder", "parent_of_folder", "archive", "parent_of_archive"])
def test_cifar10_reads_folder_and_archive(tmp_path, where):
    folder, archive, batches = _make_cifar(tmp_path, "cifar10")
    root = {"folder": folder, "parent_of_folder": tmp_path, "archive": archive,
            "parent_of_archive": archive.parent}[where]
    (x_tr, y_tr), (x_te, y_te) = load_cifar10(root)
    ex_tr, ey_tr = _expected(batches, [f"data_batch_{i}" for i in range(1, 6)], b"labels")
    ex_te, ey_te = _expected(batches, ["test_batch"], b"labels")
    assert x_tr.shape == (3 + 4 + 5 + 6 + 7, 3, 32, 32) and x_te.shape == (8, 3, 32, 32)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    np.testing.assert_array_equal(x_tr, ex_tr)
    np.testing.assert_array_equal(y_tr, ey_tr)
    np.testing.assert_array_equal(x_te, ex_te)
    np.testing.assert_array_equal(y_te, ey_te)
    # pixel layout: row = 1024 R, 1024 G, 1024 B, each 32×32 row-major
    assert x_tr[1, 2, 5, 7] == np.float32(batches["data_batch_1"][b"data"][1, 2 * 1024 + 5 * 32 + 7] / 255)


@pytest.mark.parametrize("where", ["folder", "archive"])
def test_cifar100_reads_fine_and_coarse_labels(tmp_path, where):
    folder, archive, batches = _make_cifar(tmp_path, "cifar100")
    root = folder if where == "folder" else archive
    (x_tr, y_tr), (x_te, y_te) = load_cifar100(root)
    ex_tr, ey_tr = _expected(batches, ["train"], b"fine_labels")
    np.testing.assert_array_equal(x_tr, ex_tr)
    np.testing.assert_array_equal(y_tr, ey_tr)
    assert x_te.shape == (4, 3, 32, 32) and y_te.dtype == np.int64
    _, (_, yc_te) = load_cifar100(root, label_mode="coarse")
    np.testing.assert_array_equal(yc_te, batches["test"][b"coarse_labels"])
    _, _, info = load_dataset("cifar100", root, label_mode="coarse")
    assert (info.num_classes, info.in_channels, info.image_size) == (20, 3, (32, 32))


def _py2_pickle(data, labels):
    """{b"data": uint8 (n, 3072), b"labels": [...]} byte for byte as Python 2 + NumPy 1 wrote it:
    protocol 2, py2 ``str`` as BINSTRING, the array rebuilt by numpy.core.multiarray._reconstruct."""
    def s(b):
        return b"T" + struct.pack("<i", len(b)) + b

    def i4(i):
        return b"J" + struct.pack("<i", i)
    dtype = (b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R(K\x03" + s(b"|")
             + b"NNN" + i4(-1) + i4(-1) + b"K\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b")
             + b"\x87R(K\x01" + i4(data.shape[0]) + i4(data.shape[1]) + b"\x86" + dtype + b"\x89"
             + s(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(i4(int(k)) for k in labels) + b"e"
    return b"\x80\x02}(" + s(b"data") + array + s(b"labels") + label_list + b"u."


def test_cifar10_reads_a_python2_pickle(tmp_path):
    folder, _, batches = _make_cifar(tmp_path, "cifar10")
    data = np.random.default_rng(5).integers(0, 256, (2, 3072), dtype=np.uint8)
    (folder / "test_batch").write_bytes(_py2_pickle(data, [7, 3]))
    _, (x_te, y_te) = load_cifar10(folder)
    np.testing.assert_array_equal(x_te, (data.reshape(2, 3, 32, 32) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y_te, [7, 3])


def test_cifar_missing_path_says_what_to_put_where(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10(missing)
    msg = str(err.value)
    for part in (str(missing), "cifar-10-python.tar.gz", "cifar-10-batches-py", "data_batch_1",
                 "test_batch", "https://www.cs.toronto.edu/~kriz/cifar.html", "never downloads"):
        assert part in msg
    with pytest.raises(FileNotFoundError, match="cifar-100-python.tar.gz"):
        load_cifar100(tmp_path)  # exists, but holds neither the folder nor the archive


def test_cifar_incomplete_folder_names_the_missing_file(tmp_path):
    folder, _, _ = _make_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3"):
        load_cifar10(folder)


def test_cifar_truncated_or_malformed_pickles_raise_value_error(tmp_path):
    folder, archive, _ = _make_cifar(tmp_path, "cifar10")
    raw = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="data_batch_2.*not a valid CIFAR pickle"):
        load_cifar10(folder)
    _write(folder / "data_batch_2", [1, 2, 3])
    with pytest.raises(ValueError, match="expected a pickled dict"):
        load_cifar10(folder)
    _write(folder / "data_batch_2", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match="3072"):
        load_cifar10(folder)
    _write(folder / "data_batch_2", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(ValueError, match="one per row"):
        load_cifar10(folder)
    # a pickle that would call anything but NumPy's array rebuild is refused, not run
    _write(folder / "data_batch_2", {b"data": __import__("fractions").Fraction(1, 3)})
    with pytest.raises(ValueError, match="refusing to load global fractions.Fraction"):
        load_cifar10(folder)
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable .tar.gz"):
        load_cifar10(archive)


def test_cifar_normalize_uses_standard_stats():
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    z = cifar_normalize(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 1], (x[:, 1] - CIFAR10_MEAN[1]) / CIFAR10_STD[1], rtol=1e-6)
    with pytest.raises(ValueError, match="C = len"):
        cifar_normalize(x[:, :2])


# ---- Tiny-ImageNet ----------------------------------------------------------------------------
_COLORS = {"n0300": (200, 30, 30), "n0100": (30, 200, 30), "n0200": (30, 30, 200)}


def _make_tiny(tmp_path):
    from PIL import Image

    root = tmp_path / "tiny-imagenet-200"
    wnids = list(_COLORS)  # deliberately not sorted: labels follow wnids.txt, line by line
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        for i in range(3):
            path = root / "train" / w / "images" / f"{w}_{i}.JPEG"
            Image.new("RGB", (64, 64), _COLORS[w]).save(path, quality=95)
    val = [("val_0.JPEG", "n0200"), ("val_1.JPEG", "n0300"), ("val_2.JPEG", "n0200")]
    for name, w in val:
        Image.new("RGB", (64, 64), _COLORS[w]).save(root / "val" / "images" / name, "JPEG", quality=95)
    Image.new("L", (64, 64), 128).save(root / "train" / "n0100" / "images" / "n0100_9.JPEG")  # grey
    (root / "val" / "val_annotations.txt").write_text(
        "".join(f"{name}\t{w}\t0\t0\t63\t63\n" for name, w in val))
    return root


def test_tiny_imagenet_reads_folder_and_maps_labels_through_wnids(tmp_path):
    root = _make_tiny(tmp_path)
    (x_tr, y_tr), (x_te, y_te) = load_tiny_imagenet(tmp_path)  # the parent folder works too
    assert x_tr.shape == (10, 3, 64, 64) and x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    np.testing.assert_array_equal(y_tr, [0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(y_te, [2, 0, 2])
    colors = np.array(list(_COLORS.values()), np.float32) / 255
    for x, y in [(x_tr[:3], y_tr[:3]), (x_tr[7:], y_tr[7:]), (x_te, y_te)]:
        np.testing.assert_allclose(x.mean(axis=(2, 3)), colors[y], atol=3 / 255)
    np.testing.assert_allclose(x_tr[6], 128 / 255, atol=1 / 255)  # grey -> RGB
    (x1, y1), (_, y1_te) = load_tiny_imagenet(root, limit_per_class=1)
    np.testing.assert_array_equal(y1, [0, 1, 2])
    np.testing.assert_array_equal(y1_te, [2, 0])
    _, _, info = load_dataset("tiny-imagenet", root, limit_per_class=1)
    assert (info.num_classes, info.in_channels, info.image_size) == (3, 3, (64, 64))


def test_tiny_imagenet_errors(tmp_path):
    expected = "(?s)wnids.txt.*val_annotations.txt.*tiny-imagenet-200.zip"
    with pytest.raises(FileNotFoundError, match=expected):
        load_tiny_imagenet(tmp_path / "missing")
    root = _make_tiny(tmp_path)
    from PIL import Image
    Image.new("RGB", (32, 32)).save(root / "train" / "n0200" / "images" / "n0200_0.JPEG")
    with pytest.raises(ValueError, match="must be 64×64 RGB, got 32×32"):
        load_tiny_imagenet(root)
    with pytest.raises(ValueError, match="limit_per_class"):
        load_tiny_imagenet(root, limit_per_class=0)


# ---- load_dataset --------------------------------------------------------------------------
def test_load_dataset_digits_and_clear_errors(tmp_path):
    (x_tr, y_tr), (x_te, _), info = load_dataset("digits", normalize=True)
    assert (info.num_classes, info.in_channels, info.image_size) == (10, 1, (8, 8))
    assert x_tr.dtype == np.float32 and abs(float(x_tr.mean())) < 1e-5
    assert abs(float(x_tr.std()) - 1.0) < 1e-4
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: digits, cifar10, "
                                         "cifar100, tiny-imagenet"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="needs root="):
        load_dataset("cifar10")
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_dataset("CIFAR-10", root=tmp_path)


# ---- DataLoader -----------------------------------------------------------------------------
def _ids(loader):
    """The sample ids of one epoch, batch by batch (x[i] holds i in every pixel)."""
    return [(xb.numpy()[:, 0, 0, 0].astype(int), minijoint.to_host(yb)) for xb, yb in loader]


def _data(n):
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 2, 2)).copy()
    return x, np.arange(n, dtype=np.int64) % 7


@settings(max_examples=25)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 1000))
def test_loader_covers_each_sample_once_per_epoch(n, batch_size, drop_last, shuffle, seed):
    x, y = _data(n)
    loader = DataLoader(x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    batches = _ids(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    assert all(len(ids) == batch_size for ids, _ in batches[:-1])
    ids = np.concatenate([i for i, _ in batches]) if batches else np.zeros(0, int)
    assert len(np.unique(ids)) == len(ids) == (len(loader) * batch_size if drop_last else n)
    for i, yb in batches:
        np.testing.assert_array_equal(yb, y[i])  # labels travel with their images
    if not shuffle:
        np.testing.assert_array_equal(ids, np.arange(len(ids)))


def test_loader_yields_tensor_and_int_labels_reshuffles_and_replays():
    x, y = _data(50)
    loader = DataLoader(x, y, 8, seed=3)
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and xb.dtype == np.float32 and xb.shape == (8, 1, 2, 2)
    assert yb.dtype == np.int64 and not isinstance(yb, Tensor)
    loader.set_epoch(0)
    e0 = np.concatenate([i for i, _ in _ids(loader)])
    e1 = np.concatenate([i for i, _ in _ids(loader)])
    assert not np.array_equal(e0, e1) and np.array_equal(np.sort(e0), np.sort(e1))
    other = DataLoader(x, y, 8, seed=3)
    np.testing.assert_array_equal(np.concatenate([i for i, _ in _ids(other)]), e0)
    other.set_epoch(1)  # resuming at epoch 1 replays it
    np.testing.assert_array_equal(np.concatenate([i for i, _ in _ids(other)]), e1)
    assert not np.array_equal(np.concatenate([i for i, _ in _ids(DataLoader(x, y, 8, seed=4))]), e0)


def test_loader_drop_last_and_bad_input():
    x, y = _data(10)
    assert [len(i) for i, _ in _ids(DataLoader(x, y, 4, drop_last=True))] == [4, 4]
    assert [len(i) for i, _ in _ids(DataLoader(x, y, 4))] == [4, 4, 2]
    with pytest.raises(ValueError, match="same N"):
        DataLoader(x, y[:9], 4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(x, y, 0)
    with pytest.raises(TypeError, match="integer class labels"):
        DataLoader(x, y.astype(np.float32), 4)


def test_loader_augments_reproducibly_per_epoch():
    x = np.random.default_rng(0).random((12, 3, 8, 8), dtype=np.float32)
    y = np.zeros(12, np.int64)
    a = DataLoader(x, y, 5, seed=1, augment=cifar_augment(padding=2))
    b = DataLoader(x, y, 5, seed=1, augment=cifar_augment(padding=2))
    first = [xb.numpy() for xb, _ in a]
    assert [f.shape for f in first] == [(5, 3, 8, 8), (5, 3, 8, 8), (2, 3, 8, 8)]
    assert first[0].dtype == np.float32
    for f, (xb, _) in zip(first, b):
        np.testing.assert_array_equal(f, xb.numpy())
    plain = np.concatenate([xb.numpy() for xb, _ in DataLoader(x, y, 5, seed=1, shuffle=True)])
    assert not np.array_equal(np.concatenate(first), plain)  # the augmentation changed something


# ---- augmentation -----------------------------------------------------------------------------
@settings(max_examples=25)
@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       padding=st.integers(0, 3), data=st.data())
def test_random_crop_equals_the_hand_computed_window(n, c, h, w, padding, data):
    sh = data.draw(st.integers(1, h + 2 * padding))
    sw = data.draw(st.integers(1, w + 2 * padding))
    seed = data.draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)
    out = random_crop(x, (sh, sw), padding=padding, rng=np.random.default_rng(seed))
    ref_rng = np.random.default_rng(seed)  # the same draws, in the documented order
    oy = ref_rng.integers(0, h + 2 * padding - sh + 1, size=n)
    ox = ref_rng.integers(0, w + 2 * padding - sw + 1, size=n)
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), np.float32)
    padded[:, :, padding:padding + h, padding:padding + w] = x
    assert out.shape == (n, c, sh, sw) and out.dtype == np.float32
    for i in range(n):
        np.testing.assert_array_equal(out[i], padded[i, :, oy[i]:oy[i] + sh, ox[i]:ox[i] + sw])


def test_random_crop_without_padding_is_identity_and_checks_input():
    x = np.random.default_rng(0).random((3, 2, 5, 5), dtype=np.float32)
    np.testing.assert_array_equal(random_crop(x, 5, padding=0, rng=np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="4-D"):
        random_crop(x[0], 5)
    with pytest.raises(ValueError, match="must fit the padded image"):
        random_crop(x, 12, padding=2)


def test_horizontal_flip_flips():
    x = np.random.default_rng(0).random((64, 2, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(horizontal_flip(x, np.random.default_rng(0), p=1.0), x[..., ::-1])
    np.testing.assert_array_equal(horizontal_flip(x, np.random.default_rng(0), p=0.0), x)
    out = horizontal_flip(x, np.random.default_rng(1), p=0.5)
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54
    expected = np.random.default_rng(1).random(64) < 0.5
    np.testing.assert_array_equal(flipped, expected)


@pytest.mark.gpu
def test_gpu_loader_and_augmentation_match_numpy():
    x = np.random.default_rng(0).random((10, 3, 8, 8), dtype=np.float32)
    y = np.arange(10, dtype=np.int64)
    ref = [(xb.numpy(), yb) for xb, yb in DataLoader(x, y, 4, seed=2, augment=cifar_augment())]
    with minijoint.using_backend("cupy") as cp:
        got = [(xb, yb) for xb, yb in DataLoader(x, y, 4, seed=2, augment=cifar_augment())]
        assert isinstance(got[0][0].data, cp.ndarray) and isinstance(got[0][1], cp.ndarray)
        for (rx, ry), (gx, gy) in zip(ref, got):
            np.testing.assert_array_equal(rx, gx.numpy())
            np.testing.assert_array_equal(ry, cp.asnumpy(gy))
