#!/usr/bin/python3
"""Export the trained Fashion-MNIST classifiers with their BatchNormalization layers kept, for the `bn` filter
(GenQ's BN-statistics filter, include/qforge/data/filters.hpp) and `qforge experiment`'s stylegan2+bn source.

The shipped weights/fmnist_<arch>.onnx have BatchNorm folded into Conv; the bn filter needs the running
statistics. This loads the training checkpoint (<ckpt-dir>/<arch>/final.pt, written by train_classifiers.py),
puts the *training* form in eval mode (RepVGG stays multi-branch: its deploy form has no BN left) and exports it
with torch.onnx.TrainingMode.PRESERVE, which keeps the BatchNormalization nodes (docs/generators.md). The script
checks that the export holds BatchNormalization nodes; `qforge eval weights/fmnist_<arch>_bn.onnx --data
fmnist:test` gives the fp32 top-1 of weights/MANIFEST.md (checked for the five archs).

usage: /usr/bin/python3 tools/python/export_bn_models.py [--arch all|resnet,vgg,...] [--ckpt-dir /tmp/qforge_train]
                                                         [--out weights]
writes <out>/fmnist_<arch>_bn.onnx
"""
import argparse
import io
import os
import sys
import warnings

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import models  # noqa: E402

OPSET = 13


def export(arch, ckpt_dir, out_dir):
    ck = torch.load(os.path.join(ckpt_dir, arch, "final.pt"), map_location="cpu")
    model = models.build(arch)
    model.load_state_dict(ck["train_state_dict"])
    model.eval()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), f, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    proto = onnx.load_from_string(f.getvalue())
    n_bn = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    if n_bn == 0:
        raise SystemExit(f"{arch}: the export has no BatchNormalization nodes")
    onnx.helper.set_model_props(proto, {"qforge.mean": f"{fmnist.MEAN:.4f}", "qforge.std": f"{fmnist.STD:.4f}",
                                        "qforge.classes": ",".join(fmnist.CLASSES), "qforge.arch": arch,
                                        "qforge.note": "training form, BatchNormalization kept (bn filter)"})
    onnx.checker.check_model(proto)
    path = os.path.join(out_dir, f"fmnist_{arch}_bn.onnx")
    onnx.save(proto, path)
    print(f"{arch}: {path} ({n_bn} BatchNormalization nodes, {os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="all")
    ap.add_argument("--ckpt-dir", default="/tmp/qforge_train")
    ap.add_argument("--out", default="weights")
    a = ap.parse_args()
    archs = models.NAMES if a.arch == "all" else a.arch.split(",")
    os.makedirs(a.out, exist_ok=True)
    for arch in archs:
        export(arch, a.ckpt_dir, a.out)


if __name__ == "__main__":
    main()
