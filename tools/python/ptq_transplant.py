"""PyTorch 1.13's int8 engine run with qforge's calibrated activation ranges: which of the two differences between
qforge's and PyTorch's PTQ, the ranges or the int8 model built from them, decides their top-1 counts.

    /usr/bin/python3 tools/python/ptq_transplant.py --qforge build/qforge --model vgg [--blocks 8] [--calib-n 1024]
                                                    [--out results/ptq_transplant]

For each calibration block s (training images [s*n, (s+1)*n), as tools/python/ptq_subsets.py), qforge quantizes the
shipped weights/fmnist_<model>.onnx with its defaults and writes its --report (the chosen range of every quantized
value, with the value's observed fp32 min/max). PyTorch then prepares the same model as tools/python/ptq_pytorch.py
does (FX graph mode, onednn, HistogramObserver activations, per-channel weights), is calibrated on the same block,
and every activation observer whose observed fp32 min/max equals that of a value in qforge's report (to 1e-4 of
the range: both engines compute the same fp32 model) is made to return qforge's scale and zero point for that value.
Observers that match nothing keep PyTorch's choice: the logits (qforge keeps them float) and the slices PyTorch
requantizes on their own (the second half of a ShuffleNetV2 channel split). Four int8 models per block:

  pytorch           PyTorch's own PTQ (ptq_pytorch.py)
  qf-ranges         PyTorch with qforge's activation ranges
  qf-ranges+grid    ... and qforge's weight grid: [-127, 127] with scale amax/127 per output channel (PyTorch's
                    default is [-128, 127] with amax/127.5)
  qf-ranges+grid+float-logits   ... and the last layer left in float (qconfig None): no 8-bit logits

and qforge's own count. Prints a line per block and a summary; writes <out>/<model>.json.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fmnist  # noqa: E402
import models  # noqa: E402
import ptq_pytorch  # noqa: E402
from ptq_subsets import write_idx  # noqa: E402

LAST_LAYER = {"resnet": "fc", "vgg": "fc2", "mobilenetv2": "fc", "shufflenetv2": "fc", "repvgg": "fc"}
VARIANTS = ["pytorch", "qf-ranges", "qf-ranges+grid", "qf-ranges+grid+float-logits"]


def qconfig_mapping(qforge_grid, float_last, name):
    from torch.ao.quantization import PerChannelMinMaxObserver, QConfig, get_default_qconfig_mapping
    qmap = get_default_qconfig_mapping("onednn")
    if qforge_grid:
        w = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                               quant_min=-127, quant_max=127)
        g = qmap.global_qconfig
        qmap.set_global(QConfig(activation=g.activation, weight=w))
        for k, v in list(qmap.object_type_qconfigs.items()):
            if "PerChannelMinMaxObserver" in repr(v.weight):
                qmap.set_object_type(k, QConfig(activation=v.activation, weight=w))
    if float_last:
        qmap.set_module_name(LAST_LAYER[name], None)
    return qmap


def int8_count(fp, name, calib, xt, yt, report, variant):
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    qmap = qconfig_mapping("grid" in variant, "float-logits" in variant, name)
    prepared = prepare_fx(copy.deepcopy(fp), qmap, example_inputs=(calib[:1],))
    seen = {}  # observer -> exact fp32 (min, max) of what it saw (HistogramObserver widens its own to bin edges)

    def record(mod, inp):
        lo, hi = float(inp[0].min()), float(inp[0].max())
        a, b = seen.get(id(mod), (lo, hi))
        seen[id(mod)] = (min(a, lo), max(b, hi))

    observers = [m for m in prepared.modules() if type(m).__name__ == "HistogramObserver"]
    for m in observers:
        m.register_forward_pre_hook(record)
    with torch.no_grad():
        for s in range(0, len(calib), 64):
            prepared(calib[s:s + 64])
    matched = 0
    if variant != "pytorch":
        values = [v for v in report["layers"] if "observed_min" in v and "scale" in v]
        for m in observers:
            lo, hi = seen[id(m)]
            best = min(values, key=lambda v: abs(v["observed_min"] - lo) + abs(v["observed_max"] - hi))
            if abs(best["observed_min"] - lo) + abs(best["observed_max"] - hi) < 1e-4 * max(1.0, hi - lo):
                s, z = best["scale"], best["zero_point"]
                m.calculate_qparams = (lambda s=s, z=z: (torch.tensor([s]), torch.tensor([z], dtype=torch.int32)))
                matched += 1
    q = convert_fx(prepared)
    return ptq_pytorch.top1(q, xt, yt), matched, len(observers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", default=os.path.join(ROOT, "build", "qforge"))
    ap.add_argument("--model", required=True, choices=list(LAST_LAYER))
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--calib-n", type=int, default=1024)
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "ptq_transplant"))
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch.backends.quantized.engine = "onednn"
    os.makedirs(args.out, exist_ok=True)
    name, n = args.model, args.calib_n
    xtr, _ = fmnist.load("train", args.data_dir)
    if args.blocks < 1 or args.blocks * n > len(xtr):
        sys.exit(f"ptq_transplant: {args.blocks} blocks of {n} images exceed the {len(xtr)} training images")
    xte, yte = fmnist.load("test", args.data_dir)
    xt = torch.from_numpy(fmnist.normalize(xte))
    yt = torch.from_numpy(yte.astype(np.int64))
    models.channel_shuffle = ptq_pytorch.channel_shuffle_fx
    models.ShuffleUnit.forward = ptq_pytorch.shuffle_unit_forward_fx
    fp = ptq_pytorch.load_deploy(name, os.environ.get("QFORGE_TRAIN_DIR", ptq_pytorch.DEFAULT_CKPT_DIR))
    onnx_path = os.path.join(ROOT, "weights", f"fmnist_{name}.onnx")
    rows = []
    for s in range(args.blocks):
        idx = os.path.join(args.out, f"{name}.b{s}.idx3-ubyte")
        write_idx(idx, xtr[s * n:(s + 1) * n])
        rep_path, qf_path = os.path.join(args.out, f"{name}.b{s}.report.json"), os.path.join(args.out, f"{name}.b{s}.q.qf")
        p = subprocess.run([args.qforge, "quantize", onnx_path, "--calib", "idx:" + idx, "-n", str(n), "-o", qf_path,
                            "--report", rep_path, "--threads", "1", "--quiet"], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"ptq_transplant: qforge quantize failed:\n{p.stdout}{p.stderr}")
        p = subprocess.run([args.qforge, "eval", qf_path, "--data", "fmnist:test", "--threads", "1", "--json"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"ptq_transplant: qforge eval failed:\n{p.stdout}{p.stderr}")
        with open(rep_path) as f:
            report = json.load(f)
        calib = torch.from_numpy(fmnist.normalize(xtr[s * n:(s + 1) * n]))
        row = dict(block=s, qforge=json.loads(p.stdout)["correct"])
        for v in VARIANTS:
            row[v], matched, total = int8_count(fp, name, calib, xt, yt, report, v)
            if v == "qf-ranges":
                row["observers_matched"] = f"{matched}/{total}"
        for f_ in (idx, qf_path, rep_path):
            os.remove(f_)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{name}: mean int8 correct over {len(rows)} blocks (10k test images)")
    for k in ["qforge"] + VARIANTS:
        vals = [r[k] for r in rows]
        print(f"  {k:30s} {statistics.mean(vals):8.2f}  {vals}")
    out = os.path.join(args.out, f"{name}.json")
    with open(out + ".tmp", "w") as f:
        json.dump(dict(model=name, calib_n=n, rows=rows), f, indent=1)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
