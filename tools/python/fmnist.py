"""Fashion-MNIST loader: reads the gzipped IDX files with gzip + numpy, nothing else.

IDX layout (big-endian): 2 zero bytes, 1 byte dtype code (0x08 = uint8), 1 byte rank,
then `rank` uint32 dimensions, then the data in row-major order.

Directory resolution: explicit argument > $QFORGE_FMNIST_DIR > /usr/share/datasets/fashion-mnist.
Files: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
"""
import argparse
import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"

# Normalisation shipped with the models (pixels scaled to [0,1] first).
MEAN = 0.2860
STD = 0.3530

CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

_IDX_DTYPES = {
    0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def data_dir(path=None):
    return path or os.environ.get("QFORGE_FMNIST_DIR") or DEFAULT_DIR


def read_idx(path):
    """Read one IDX file (gzipped if the name ends in .gz) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    code, rank = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(dims)) if rank else 1
    offset = 4 + 4 * rank
    need = offset + count * dtype.itemsize
    if len(raw) != need:
        raise ValueError(f"{path}: size {len(raw)} bytes, header says {need}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=True)


def _find(dirpath, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(dirpath, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}[.gz] not found in {dirpath} "
                            "(set --data-dir or QFORGE_FMNIST_DIR)")


def load(split, path=None):
    """Return (images uint8 [N,28,28], labels uint8 [N]) for split 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k", "t10k": "t10k"}[split]
    d = data_dir(path)
    images = read_idx(_find(d, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(d, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{d}: {split} shapes do not match: {images.shape} vs {labels.shape}")
    return images, labels


def normalize(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28], (x/255 - MEAN) / STD."""
    x = images_u8.astype(np.float32)[:, None, :, :] / np.float32(255.0)
    return (x - np.float32(MEAN)) / np.float32(STD)


def add_data_dir_arg(parser):
    parser.add_argument("--data-dir", default=None,
                        help=f"Fashion-MNIST directory (default $QFORGE_FMNIST_DIR or {DEFAULT_DIR})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Print a summary of the Fashion-MNIST files.")
    add_data_dir_arg(ap)
    a = ap.parse_args()
    for s in ("train", "test"):
        x, y = load(s, a.data_dir)
        print(f"{s}: images {x.shape} {x.dtype}, labels {y.shape}, "
              f"pixel mean {x.mean() / 255:.4f} std {(x / 255.0).std():.4f}, "
              f"class counts {np.bincount(y, minlength=10).tolist()}")
