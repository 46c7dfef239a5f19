#!/usr/bin/python3
"""Rebuilds the fuzz seed corpora under tests/fuzz/corpus/<target>/ (committed; run again to refresh).

Seeds are small on purpose (a fuzzer's speed falls with input size): a few ONNX backend-test models, a tiny CNN
as ONNX, as a .qf container and as an int8 .q.qf (made by the qforge CLI given as --qforge), three Fashion-MNIST
images as IDX (plain and gzip), two CIFAR-10 records, small images in every format stb_image reads that PIL
writes, and a StyleGAN2 golden generator from tests/data. Needs Debian's python3-onnx, python3-pil, python3-numpy.
Usage: tests/fuzz/make_corpus.py --qforge build/qforge
"""
import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ONNX_NODE_TESTS = "/usr/share/libonnx-testdata/data/node"
ONNX_SEEDS = ["test_relu", "test_conv_with_strides_padding", "test_gemm_default_single_elem_vector_bias",
              "test_reshape_reduced_dims", "test_concat_2d_axis_0", "test_maxpool_2d_pads", "test_globalaveragepool",
              "test_flatten_axis1", "test_transpose_default", "test_add_bcast", "test_batchnorm_example",
              "test_slice", "test_qlinearconv", "test_qlinearmatmul_2D", "test_quantizelinear", "test_clip",
              "test_resize_upsample_scales_nearest", "test_constant", "test_if", "test_loop11"]


def tiny_cnn():
    """1x1x8x8 -> Conv(4, 3x3) -> Relu -> MaxPool 2 -> Flatten -> Gemm(10). Deterministic weights."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((10, 64)).astype(np.float32), "fw"),
             numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "fb")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "tiny_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qforge-fuzz-corpus")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def idx_bytes(arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", required=True, help="the qforge CLI (for convert and quantize)")
    args = ap.parse_args()
    corpus = os.path.join(HERE, "corpus")

    d = fresh(os.path.join(corpus, "fuzz_onnx"))
    for t in ONNX_SEEDS:
        shutil.copy(os.path.join(ONNX_NODE_TESTS, t, "model.onnx"), os.path.join(d, t + ".onnx"))
    onnx.save(tiny_cnn(), os.path.join(d, "tiny_cnn.onnx"))

    d = fresh(os.path.join(corpus, "fuzz_model_file"))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "tiny_cnn.onnx")
        onnx.save(tiny_cnn(), src)
        subprocess.run([args.qforge, "convert", src, "-o", os.path.join(d, "tiny_cnn.qf")], check=True)
        subprocess.run([args.qforge, "convert", os.path.join(ONNX_NODE_TESTS, "test_batchnorm_example", "model.onnx"),
                        "-o", os.path.join(d, "batchnorm.qf")], check=True)
        subprocess.run([args.qforge, "quantize", src, "--calib", "noise:uniform", "-n", "8", "--seed", "1", "--threads", "1",
                        "-o", os.path.join(d, "tiny_cnn.q.qf")], check=True, stdout=subprocess.DEVNULL)

    d = fresh(os.path.join(corpus, "fuzz_idx"))
    fm = "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    images = np.frombuffer(raw[16:16 + 3 * 784], np.uint8).reshape(3, 28, 28)
    with gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:11], np.uint8)
    for name, data in (("images3", idx_bytes(images)), ("labels3", idx_bytes(labels))):
        open(os.path.join(d, name + ".idx"), "wb").write(data)
        open(os.path.join(d, name + ".idx.gz"), "wb").write(gzip.compress(data, mtime=0))

    d = fresh(os.path.join(corpus, "fuzz_cifar"))
    rng = np.random.default_rng(1)
    recs = b"".join(bytes([lab]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for lab in (3, 9))
    open(os.path.join(d, "two_records.bin"), "wb").write(recs)

    d = fresh(os.path.join(corpus, "fuzz_image"))
    rgb = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), "RGB")
    for mode, fmt, ext in (("L", "PNG", "png"), ("RGB", "PNG", "png"), ("RGBA", "PNG", "png"), ("P", "PNG", "png"),
                           ("RGB", "JPEG", "jpg"), ("L", "JPEG", "jpg"), ("RGB", "BMP", "bmp"), ("RGB", "TGA", "tga"),
                           ("L", "PPM", "pgm"), ("RGB", "PPM", "ppm"), ("P", "GIF", "gif")):
        buf = io.BytesIO()
        rgb.convert(mode).save(buf, fmt)
        open(os.path.join(d, f"{mode.lower()}.{ext}"), "wb").write(buf.getvalue())
    prog = io.BytesIO()
    rgb.save(prog, "JPEG", progressive=True)
    open(os.path.join(d, "progressive.jpg"), "wb").write(prog.getvalue())

    d = fresh(os.path.join(corpus, "fuzz_stylegan2"))
    shutil.copy(os.path.join(REPO, "tests", "data", "stylegan2", "tiny_skip.qf"), d)
    shutil.copy(os.path.join(REPO, "tests", "data", "stylegan2", "tiny_resnet.qf"), d)
    print("corpora written under", corpus)


if __name__ == "__main__":
    sys.exit(main())
