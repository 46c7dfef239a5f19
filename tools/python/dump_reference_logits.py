"""Reference logits for a shipped Fashion-MNIST classifier, for the C++ runtime tests.

    /usr/bin/python3 tools/python/dump_reference_logits.py weights/fmnist_resnet.onnx --limit 64 \
        --out tests/data/fmnist_resnet_logits_first64.npy

Writes float32 logits [limit, 10] for the first `limit` test images (normalised with the model's
qforge.mean / qforge.std metadata) and prints the top-1 count over the whole 10k test set.

Where the numbers come from (--source):
  torch  the trained PyTorch module (deploy form) saved by train_classifiers.py in
         <ckpt-dir>/<arch>/final.pt (default ckpt dir /tmp/qforge_train or $QFORGE_TRAIN_DIR).
  onnx   the .onnx file itself, executed node by node with torch.nn.functional (a small fp32
         interpreter below, no onnxruntime needed). Works from the repository alone.
  auto   torch if the checkpoint exists, else onnx (default).
When the torch module is used, the ONNX file is also run on the same images and the largest
absolute difference is printed; a difference above 1e-3 is an error (checkpoint and file disagree).
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import models  # noqa: E402

DEFAULT_CKPT_DIR = "/tmp/qforge_train"


def ckpt_dir(path=None):
    return path or os.environ.get("QFORGE_TRAIN_DIR") or DEFAULT_CKPT_DIR


# ------------------------------------------------------------------ tiny fp32 ONNX interpreter
def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads_2d(pads):
    """ONNX pads [top, left, bottom, right] -> F.pad order [left, right, top, bottom]."""
    t, l, b, r = pads
    return [l, r, t, b]


def _run_node(op, a, x):
    """Evaluate one node. `x` is the list of input values (tensors or None), returns a list of outputs."""
    if op == "Identity":
        return [x[0]]
    if op == "Constant":
        return [torch.from_numpy(numpy_helper.to_array(a["value"]).copy())]
    if op == "Conv":
        w = x[1]
        b = x[2] if len(x) > 2 else None
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError("Conv auto_pad")
        pads = a.get("pads", [0] * 4)
        inp = F.pad(x[0], _pads_2d(pads)) if any(pads) else x[0]
        return [F.conv2d(inp, w, b, stride=a.get("strides", [1, 1]),
                         dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))]
    if op == "BatchNormalization":
        return [F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get("epsilon", 1e-5))]
    if op == "Relu":
        return [F.relu(x[0])]
    if op == "Clip":
        lo = x[1] if len(x) > 1 and x[1] is not None else None
        hi = x[2] if len(x) > 2 and x[2] is not None else None
        return [torch.clamp(x[0], None if lo is None else float(lo), None if hi is None else float(hi))]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op]
        if op == "Div" and not x[0].is_floating_point():
            return [torch.div(x[0], x[1], rounding_mode="trunc")]
        return [f(x[0], x[1])]
    if op == "MaxPool":
        pads = a.get("pads", [0] * 4)
        inp = F.pad(x[0], _pads_2d(pads), value=float("-inf")) if any(pads) else x[0]
        return [F.max_pool2d(inp, a["kernel_shape"], a.get("strides", a["kernel_shape"]),
                             ceil_mode=bool(a.get("ceil_mode", 0)))]
    if op == "AveragePool":
        if any(a.get("pads", [0] * 4)):
            raise NotImplementedError("padded AveragePool")
        return [F.avg_pool2d(x[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))]
    if op == "GlobalAveragePool":
        return [x[0].mean(dim=(2, 3), keepdim=True)]
    if op == "Flatten":
        ax = a.get("axis", 1)
        return [x[0].reshape(int(np.prod(x[0].shape[:ax])), -1)]
    if op == "Gemm":
        A = x[0].t() if a.get("transA", 0) else x[0]
        B = x[1].t() if a.get("transB", 0) else x[1]
        y = a.get("alpha", 1.0) * (A @ B)
        if len(x) > 2 and x[2] is not None:
            y = y + a.get("beta", 1.0) * x[2]
        return [y]
    if op == "MatMul":
        return [x[0] @ x[1]]
    if op == "Reshape":
        shape = [int(v) for v in x[1].tolist()]
        if not a.get("allowzero", 0):
            shape = [x[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x[0].reshape(shape)]
    if op == "Transpose":
        return [x[0].permute(*a["perm"])]
    if op == "Concat":
        return [torch.cat(x, dim=a["axis"])]
    if op == "Split":
        ax = a.get("axis", 0)
        if len(x) > 1 and x[1] is not None:
            sizes = [int(v) for v in x[1].tolist()]
        elif "split" in a:
            sizes = list(a["split"])
        else:
            raise NotImplementedError("Split without sizes")
        return list(torch.split(x[0], sizes, dim=ax))
    if op == "Slice":
        starts, ends = x[1].tolist(), x[2].tolist()
        axes = x[3].tolist() if len(x) > 3 and x[3] is not None else list(range(len(starts)))
        steps = x[4].tolist() if len(x) > 4 and x[4] is not None else [1] * len(starts)
        idx = [slice(None)] * x[0].dim()
        for s, e, ax, st in zip(starts, ends, axes, steps):
            if st != 1:
                raise NotImplementedError("Slice step != 1")
            n = x[0].shape[ax]
            idx[ax] = slice(max(min(s, n), -n), max(min(e, n), -n))
        return [x[0][tuple(idx)]]
    if op == "Shape":
        return [torch.tensor(list(x[0].shape), dtype=torch.int64)]
    if op == "Gather":
        return [torch.index_select(x[0], a.get("axis", 0), x[1].reshape(-1).long())
                .reshape(list(x[0].shape[:a.get("axis", 0)]) + list(x[1].shape)
                         + list(x[0].shape[a.get("axis", 0) + 1:]))]
    if op == "Unsqueeze":
        y = x[0]
        for ax in sorted(int(v) for v in x[1].tolist()):
            y = y.unsqueeze(ax)
        return [y]
    if op == "Squeeze":
        y = x[0]
        for ax in sorted((int(v) for v in x[1].tolist()), reverse=True):
            y = y.squeeze(ax)
        return [y]
    if op == "Cast":
        to = {1: torch.float32, 6: torch.int32, 7: torch.int64}[a["to"]]
        return [x[0].to(to)]
    raise NotImplementedError(f"ONNX op {op} not supported by the reference interpreter")


class OnnxTorchRunner:
    """Runs an fp32 ONNX graph with torch ops. Constructed once, called on NCHW float batches."""

    def __init__(self, model_proto):
        self.graph = model_proto.graph
        self.consts = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
                       for i in self.graph.initializer}
        self.input_name = [i.name for i in self.graph.input if i.name not in self.consts][0]
        self.output_names = [o.name for o in self.graph.output]

    @torch.no_grad()
    def __call__(self, x):
        env = dict(self.consts)
        env[self.input_name] = x
        for node in self.graph.node:
            ins = [env[n] if n else None for n in node.input]
            outs = _run_node(node.op_type, _attrs(node), ins)
            for name, v in zip(node.output, outs):
                env[name] = v
        return env[self.output_names[0]]


# ------------------------------------------------------------------ loading the trained torch module
def metadata(model_proto):
    return {p.key: p.value for p in model_proto.metadata_props}


def load_torch_module(arch, directory=None):
    """Deploy-form module from <ckpt-dir>/<arch>/final.pt, or None if there is no checkpoint."""
    path = os.path.join(ckpt_dir(directory), arch, "final.pt")
    if not os.path.exists(path):
        return None, path
    blob = torch.load(path, map_location="cpu")
    torch.manual_seed(0)
    model = models.deploy_form(arch, models.build(arch).eval())
    model.load_state_dict(blob["deploy_state_dict"])
    return model.eval(), path


@torch.no_grad()
def batched(fn, x, bs=500):
    return torch.cat([fn(x[i:i + bs]) for i in range(0, x.shape[0], bs)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a weights/fmnist_<arch>.onnx file")
    ap.add_argument("--limit", type=int, default=64, help="how many test images (from the first)")
    ap.add_argument("--out", required=True, help="output .npy (float32 [limit, 10])")
    ap.add_argument("--source", choices=("auto", "torch", "onnx"), default="auto")
    ap.add_argument("--ckpt-dir", default=None,
                    help=f"train_classifiers.py checkpoint dir (default $QFORGE_TRAIN_DIR or {DEFAULT_CKPT_DIR})")
    ap.add_argument("--threads", type=int, default=2)
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    proto = onnx.load(args.model)
    meta = metadata(proto)
    arch = meta.get("qforge.arch")
    mean, std = float(meta.get("qforge.mean", fmnist.MEAN)), float(meta.get("qforge.std", fmnist.STD))
    images, labels = fmnist.load("test", args.data_dir)
    x = torch.from_numpy((images.astype(np.float32)[:, None] / np.float32(255.0) - np.float32(mean))
                         / np.float32(std))
    y = torch.from_numpy(labels.astype(np.int64))
    onnx_run = OnnxTorchRunner(proto)

    module = None
    if args.source in ("auto", "torch"):
        if arch not in models.BUILDERS:
            sys.exit(f"{args.model}: metadata qforge.arch={arch!r} is not a known architecture")
        module, path = load_torch_module(arch, args.ckpt_dir)
        if module is None and args.source == "torch":
            sys.exit(f"no checkpoint {path}; run train_classifiers.py or use --source onnx")
    if module is not None:
        print(f"source: torch module {path}")
        fn = module
    else:
        print(f"source: ONNX file {args.model} (torch interpreter)")
        fn = onnx_run

    n = min(args.limit, x.shape[0])
    with torch.no_grad():
        logits = fn(x[:n]).float()
        if module is not None:
            diff = (onnx_run(x[:n]) - logits).abs().max().item()
            print(f"onnx file vs torch module on {n} images: max abs diff {diff:.3g}")
            if diff > 1e-3:
                sys.exit("ERROR: the checkpoint does not match the ONNX file")
        full = batched(fn, x)
    correct = int((full.argmax(1) == y).sum())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.save(args.out, logits.numpy().astype(np.float32))
    print(f"wrote {args.out}: logits {tuple(logits.shape)} float32")
    print(f"top-1 on the {len(y)} test images: {correct}/{len(y)} = {100.0 * correct / len(y):.2f}%")


if __name__ == "__main__":
    main()
