"""Class consistency of a conditional Fashion-MNIST StyleGAN2: the share of generated images that the shipped
classifier labels as the class the generator was asked for.

  /usr/bin/python3 tools/python/eval_stylegan2_classes.py [--generator weights/fmnist_stylegan2.qf | --ckpt CKPT]
        [--classifier weights/fmnist_resnet.onnx] [--per-class 1000] [--psi 1.0] [--noise const] [--seed 0]

Images: class k, j-th image = image index i = k * per_class + j of run `seed`, i.e. z =
np.random.RandomState(seed + i).randn(1, z_dim) (generate.py --seeds convention, the same as qforge's C++
generator), one-hot label k, truncation psi, noise mode. Each 32x32 image in [-1,1] is converted like
generate.py (uint8 = clamp(round((x+1)*127.5))), centre-cropped to 28x28 (the training images were padded 28 -> 32)
and normalised with the classifier's mean/std. The classifier is the ONNX file run by the torch interpreter of
dump_reference_logits.py (or its training checkpoint via --classifier-source torch).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import stylegan2_ref as sg  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def load_generator(args):
    if args.ckpt:
        ck = torch.load(args.ckpt, map_location="cpu")
        G = sg.Generator(**ck["G_kwargs"]).eval()
        G.load_state_dict(ck["G_ema"])
        return G, f"{args.ckpt} (G_ema, {ck['nimg'] / 1000:.1f} kimg)"
    G, _ = sg.load_generator(args.generator)
    return G, args.generator


def load_classifier(args):
    import onnx
    from dump_reference_logits import OnnxTorchRunner, load_torch_module, metadata
    proto = onnx.load(args.classifier)
    meta = metadata(proto)
    mean, std = float(meta.get("qforge.mean", fmnist.MEAN)), float(meta.get("qforge.std", fmnist.STD))
    if args.classifier_source == "torch":
        module, path = load_torch_module(meta.get("qforge.arch"))
        if module is None:
            sys.exit(f"no classifier checkpoint {path}")
        return module, mean, std, path
    return OnnxTorchRunner(proto), mean, std, args.classifier


def to_classifier_input(img, mean, std):
    u8 = ((img + 1) * 127.5).round().clamp(0, 255)  # generate.py's uint8 conversion
    x = u8[:, :, 2:30, 2:30] / 255.0
    return (x - mean) / std


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", default=os.path.join(REPO, "weights", "fmnist_stylegan2.qf"))
    ap.add_argument("--ckpt", default=None, help="a train_stylegan2.py checkpoint instead of --generator")
    ap.add_argument("--classifier", default=os.path.join(REPO, "weights", "fmnist_resnet.onnx"))
    ap.add_argument("--classifier-source", choices=("onnx", "torch"), default="onnx")
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--noise", choices=("const", "random", "none"), default="const")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the result as JSON here")
    ap.add_argument("--check-real", type=int, default=0,
                    help="first run this many real test images through the same [-1,1] 32x32 path (sanity check)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G, gname = load_generator(args)
    clf, mean, std, cname = load_classifier(args)
    if args.check_real:
        xr, yr = fmnist.load("test")
        xr, yr = xr[:args.check_real], yr[:args.check_real]
        img = torch.from_numpy(np.pad(xr, ((0, 0), (2, 2), (2, 2)))).float().div(127.5).sub(1).unsqueeze(1)
        pred = torch.cat([clf(to_classifier_input(img[i:i + 500], mean, std)).argmax(1)
                          for i in range(0, len(img), 500)]).numpy()
        print(f"real test images through the same path: {100 * (pred == yr).mean():.2f}% correct")
    if G.c_dim != 10:
        sys.exit(f"{gname}: c_dim {G.c_dim}, expected a 10-class conditional generator")
    K = args.per_class
    correct = np.zeros(10, dtype=np.int64)
    confusion = np.zeros((10, 10), dtype=np.int64)
    for k in range(10):
        for j0 in range(0, K, args.batch):
            n = min(args.batch, K - j0)
            idx = [k * K + j0 + j for j in range(n)]
            z = torch.from_numpy(np.concatenate([np.random.RandomState(args.seed + i).randn(1, G.z_dim)
                                                 for i in idx]))
            c = torch.zeros(n, 10)
            c[:, k] = 1
            img = G(z, c, truncation_psi=args.psi, noise_mode=args.noise)
            pred = clf(to_classifier_input(img, mean, std)).argmax(1).numpy()
            correct[k] += int((pred == k).sum())
            confusion[k] += np.bincount(pred, minlength=10)
    acc = correct / K
    total = correct.sum() / (10 * K)
    print(f"generator {gname}\nclassifier {cname}\npsi {args.psi}, noise {args.noise}, {K} per class, seed {args.seed}")
    for k in range(10):
        print(f"  {k} {fmnist.CLASSES[k]:12s} {100 * acc[k]:6.2f}%   most confused with "
              f"{fmnist.CLASSES[int(np.argsort(confusion[k])[-2 if np.argmax(confusion[k]) == k else -1])]}")
    print(f"class consistency: {100 * total:.2f}% ({correct.sum()}/{10 * K})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(generator=gname, classifier=cname, psi=args.psi, noise=args.noise, per_class=K,
                           seed=args.seed, per_class_accuracy=acc.tolist(), class_consistency=float(total),
                           confusion=confusion.tolist()), f, indent=2)


if __name__ == "__main__":
    main()
