"""PyTorch post-training quantization of the shipped Fashion-MNIST classifiers: the baseline qforge is compared to.

    /usr/bin/python3 tools/python/ptq_pytorch.py --model all [--calib-n 1024] [--calib-offsets 0,1024,...]
                                                 [--json out.json]

What it does (PyTorch 1.13, FX graph mode): the deploy form of each classifier (RepVGG re-parameterised, as
exported to weights/fmnist_<arch>.onnx) is loaded from the trainer's final checkpoint
(<ckpt-dir>/<arch>/final.pt, written by tools/python/train_classifiers.py; --ckpt-dir or $QFORGE_TRAIN_DIR,
default /tmp/qforge_train) or, where there is no checkpoint, from the shipped weights/fmnist_<arch>_bn.onnx (the
same weights with BatchNorm kept; RepVGG re-parameterised here), prepared with PyTorch's default static qconfig for the x86 backend in use
(torch.backends.quantized.engine = "onednn" when available, else "fbgemm"): HistogramObserver activations
(quint8, per tensor), PerChannelMinMaxObserver weights (qint8, per-channel symmetric), Conv+BN+ReLU fused by
prepare_fx. It is calibrated on the FIRST `--calib-n` Fashion-MNIST training images (the same images
`qforge quantize --calib fmnist:train -n 1024` uses, same normalisation), converted, and evaluated on the full
10k test set. Prints fp32 and int8 top-1 per model. With --calib-offsets, it calibrates once per offset on training
images [offset, offset + calib-n) (tools/python/ptq_subsets.py compares calibration subsets this way); the first
offset's figures are the model's main result, every offset's int8 count is in "int8_correct_by_offset" and the
number of test images where the int8 model picks the fp32 model's class in "int8_agree_by_offset". --predictions
DIR also writes each model's per-image test answers as int64 .npy files, <model>.fp32.npy and
<model>.int8.<offset>.npy, for paired comparisons with qforge's (`qforge eval --predictions`).

The channel shuffle of ShuffleNetV2 reads int(x.shape) (for a clean ONNX export), which FX cannot trace; the
script swaps in an equivalent traceable version (reshape through x.size(), transpose, flatten).
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fmnist  # noqa: E402
import models  # noqa: E402

DEFAULT_CKPT_DIR = "/tmp/qforge_train"


def channel_shuffle_fx(x, groups):
    """models.channel_shuffle without int(shape): the same permutation, traceable by torch.fx."""
    y = x.reshape(x.size(0), groups, -1, x.size(2), x.size(3))
    y = torch.transpose(y, 1, 2).contiguous()
    return y.flatten(1, 2)


def shuffle_unit_forward_fx(self, x):
    """models.ShuffleUnit.forward with the channel split as two slices: torch.fx cannot unpack torch.split."""
    if self.stride == 1:
        out = torch.cat((x[:, :self.branch], self.branch2(x[:, self.branch:])), dim=1)
    else:
        out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
    return models.channel_shuffle(out, 2)


def train_state_from_bn_onnx(name, path):
    """The training-form state dict of a shipped weights/fmnist_<arch>_bn.onnx (tools/python/export_bn_models.py
    exports it without constant folding, so every initializer keeps its state-dict name)."""
    import onnx
    from onnx import numpy_helper
    proto = onnx.load(path)
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
    # The exporter keeps one copy of equal tensors (RepVGG's BN biases) and names the others by Identity nodes.
    for n in proto.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    model = models.build(name)
    state = model.state_dict()
    missing = [k for k in state if k not in inits and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"{path}: no initializer for {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''} (not an export of a {name} model?)")
    for k, v in state.items():
        if k in inits:
            if tuple(inits[k].shape) != tuple(v.shape):
                raise SystemExit(f"{path}: initializer {k} has shape {tuple(inits[k].shape)}, "
                                 f"the {name} model wants {tuple(v.shape)}")
            state[k] = inits[k].to(v.dtype)
    return state


def load_deploy(name, ckpt_dir):
    """The deploy form from the trainer's checkpoint when there is one, else from the shipped BatchNorm-kept ONNX
    export (the same weights: the fp32 top-1 printed beside the int8 one shows it)."""
    path = os.path.join(ckpt_dir, name, "final.pt")
    model = models.build(name)
    if os.path.exists(path):
        ck = torch.load(path, map_location="cpu")
        model.load_state_dict(ck["train_state_dict"])
        model.eval()
        deploy = models.deploy_form(name, model).eval()
        deploy.load_state_dict(ck["deploy_state_dict"])
        return deploy
    onnx_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "weights", f"fmnist_{name}_bn.onnx")
    if not os.path.exists(onnx_path):
        raise SystemExit(f"neither {path} nor {onnx_path} exists: train the classifiers first "
                         "(tools/python/train_classifiers.py) or pass --ckpt-dir")
    model.load_state_dict(train_state_from_bn_onnx(name, onnx_path))
    model.eval()
    return models.deploy_form(name, model).eval()


def predict(model, x, batch=1000):
    with torch.no_grad():
        return torch.cat([model(x[s:s + batch]).argmax(1) for s in range(0, len(x), batch)])


def top1(model, x, y, batch=1000):
    return int((predict(model, x, batch) == y).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="all", help="resnet, vgg, mobilenetv2, shufflenetv2, repvgg or all")
    ap.add_argument("--calib-n", type=int, default=1024, help="first N training images (default 1024)")
    ap.add_argument("--calib-offsets", default="0",
                    help="comma-separated first training image of each calibration set (default 0)")
    ap.add_argument("--batch", type=int, default=64, help="calibration batch size")
    ap.add_argument("--ckpt-dir", default=None, help="trainer checkpoints (default $QFORGE_TRAIN_DIR or "
                                                     f"{DEFAULT_CKPT_DIR})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--predictions", default=None, help="also write per-image test answers (.npy) into this folder")
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ckpt_dir = args.ckpt_dir or os.environ.get("QFORGE_TRAIN_DIR") or DEFAULT_CKPT_DIR

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    engines = torch.backends.quantized.supported_engines
    engine = "onednn" if "onednn" in engines else "fbgemm"
    torch.backends.quantized.engine = engine
    qmap = get_default_qconfig_mapping(engine)

    xtr, _ = fmnist.load("train", args.data_dir)
    xte, yte = fmnist.load("test", args.data_dir)
    offsets = [int(v) for v in args.calib_offsets.split(",")]
    for o in offsets:
        if o < 0 or o + args.calib_n > len(xtr):
            raise SystemExit(f"--calib-offsets: [{o}, {o + args.calib_n}) is outside the {len(xtr)} training images")
    calibs = {o: torch.from_numpy(fmnist.normalize(xtr[o:o + args.calib_n])) for o in offsets}
    xt = torch.from_numpy(fmnist.normalize(xte))
    yt = torch.from_numpy(yte.astype(np.int64))
    models.channel_shuffle = channel_shuffle_fx  # ShuffleUnit.forward looks the name up at call time
    models.ShuffleUnit.forward = shuffle_unit_forward_fx

    names = models.NAMES if args.model == "all" else args.model.split(",")
    if args.predictions:
        os.makedirs(args.predictions, exist_ok=True)

    def save_predictions(file_name, pred):
        if args.predictions:
            path = os.path.join(args.predictions, file_name)
            np.save(path + ".tmp.npy", pred.numpy().astype(np.int64))
            os.replace(path + ".tmp.npy", path)

    results = {}
    print(f"torch {torch.__version__}, engine {engine}, qconfig: {qmap.global_qconfig}")
    for name in names:
        t0 = time.time()
        fp = load_deploy(name, ckpt_dir)
        pred_fp = predict(fp, xt)
        c_fp = int((pred_fp == yt).sum())
        save_predictions(f"{name}.fp32.npy", pred_fp)
        by_offset, agree_by_offset = {}, {}
        for o in offsets:
            calib = calibs[o]
            prepared = prepare_fx(copy.deepcopy(fp), qmap, example_inputs=(calib[:1],))
            with torch.no_grad():
                for s in range(0, len(calib), args.batch):
                    prepared(calib[s:s + args.batch])
            q = convert_fx(prepared)
            pred_q = predict(q, xt)
            by_offset[str(o)] = int((pred_q == yt).sum())
            save_predictions(f"{name}.int8.{o}.npy", pred_q)
            agree_by_offset[str(o)] = int((pred_q == pred_fp).sum())  # test images where int8 and fp32 agree
        c_q = by_offset[str(offsets[0])]
        n = len(yt)
        results[name] = dict(fp32_top1=100.0 * c_fp / n, int8_top1=100.0 * c_q / n,
                             drop=100.0 * (c_fp - c_q) / n, engine=engine, calib_n=args.calib_n,
                             calib_offset=offsets[0], fp32_correct=c_fp, int8_correct_by_offset=by_offset,
                             int8_agree_by_offset=agree_by_offset,
                             seconds=round(time.time() - t0, 1))
        print(f"{name:13s} fp32 {100.0 * c_fp / n:6.2f}%  int8 ({engine}) {100.0 * c_q / n:6.2f}%  "
              f"drop {100.0 * (c_fp - c_q) / n:5.2f}  ({time.time() - t0:.0f} s)", flush=True)
        if len(offsets) > 1:
            print(f"{'':13s} int8 correct per offset: {by_offset}", flush=True)
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(dict(torch=torch.__version__, engine=engine, results=results), f, indent=2)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
