"""Exports torchvision ResNet-18 and MobileNetV2 with random weights to ONNX, for speed benchmarks only.

    /usr/bin/python3 tools/python/export_torchvision_bench.py [--out /var/tmp/qforge_bench] [--seed 0]

Writes OUT/tv_resnet18.onnx and OUT/tv_mobilenet_v2.onnx: input "input" [N, 3, 224, 224] (batch dynamic), output
"logits" [N, 1000], opset 13, eval mode (torch.onnx.export folds BatchNormalization into the convolutions),
weights from torchvision's default initialisation under torch.manual_seed(SEED). The ImageNet normalisation is
stored as metadata (qforge.mean / qforge.std) so `qforge quantize --calib noise:uniform` preprocesses like a real
input. The weights are random: these files measure speed, never accuracy, and do not belong in weights/.

bench/bm_models reads them from $QFORGE_TORCHVISION_DIR; tools/bench/peers.py from --torchvision-dir.
"""
import argparse
import os

import onnx
import torch
import torchvision

MEAN = "0.485,0.456,0.406"
STD = "0.229,0.224,0.225"
MODELS = {"resnet18": torchvision.models.resnet18, "mobilenet_v2": torchvision.models.mobilenet_v2}


def build(name, seed):
    """The torchvision model `name` with random weights from `seed`, in eval mode."""
    torch.manual_seed(seed)
    return MODELS[name](weights=None).eval()


def export(name, out_dir, seed):
    path = os.path.join(out_dir, f"tv_{name}.onnx")
    model = build(name, seed)
    x = torch.zeros(1, 3, 224, 224)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    m = onnx.load(tmp)
    for k, v in (("qforge.mean", MEAN), ("qforge.std", STD), ("qforge.arch", f"torchvision.{name}"),
                 ("qforge.note", f"random weights (torch.manual_seed({seed})), for benchmarks only")):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.graph.name = f"tv_{name}"
    onnx.checker.check_model(m)
    onnx.save(m, tmp)
    os.replace(tmp, path)
    print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, {len(m.graph.node)} nodes")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/var/tmp/qforge_bench", help="output folder (default /var/tmp/qforge_bench)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="all", help="resnet18, mobilenet_v2 or all")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = list(MODELS) if args.model == "all" else args.model.split(",")
    for n in names:
        export(n, args.out, args.seed)


if __name__ == "__main__":
    main()
