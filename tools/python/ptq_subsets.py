"""qforge's default W8A8 PTQ against PyTorch 1.13's, over several disjoint calibration sets of real images.

    /usr/bin/python3 tools/python/ptq_subsets.py --qforge build/qforge [--subsets 8] [--calib-n 1024]
                                                 [--models resnet,...] [--out results/ptq_subsets] [--threads 1]
                                                 [--variant NAME="QUANTIZE ARGS" ...] [--pytorch-json FILE]

One calibration set (tools/python/ptq_compare.py) decides "no worse than PyTorch" by a handful of test images, as
many as another set of 1024 calibration images moves either tool. This script calibrates both on S disjoint blocks
of the Fashion-MNIST training set, images [s*n, (s+1)*n) for s = 0..S-1 (block 0 is ptq_compare.py's set), evaluates
every int8 model on the full 10k test set and prints, per model, the mean drop of each tool, its spread, on how
many blocks qforge is better, equal or worse, and the mean number of test images where each tool's int8 model
picks another class than its fp32 model (the fidelity of the int8 model, which the top-1 drop measures only through
the few disagreements that happen to fall on right or wrong answers), and, image by image, how many test images
only qforge's int8 model gets right and how many only PyTorch's, with the exact McNemar test of whether that
split is more uneven than chance (both tools run on the same test images, so the comparison is paired). qforge reads each block from an IDX file written here (the same
normalisation as fmnist:train: the model's metadata); PyTorch gets the same block (ptq_pytorch.py
--calib-offsets). Writes <out>/subsets.json.

--variant runs qforge once per named set of extra `qforge quantize` arguments (default: one variant, "default",
with none) and also evaluates every int8 model on training images [--val-from, 60000) (default 50000, outside
every calibration block), so a setting can be chosen on images that are not the test set. The classifiers were
trained on all 60,000 training images, so that split is easier than the test set (fp32 top-1 ~94 % vs ~93 %).
--pytorch-json reuses the pytorch.json of an earlier run with the same blocks instead of running PyTorch again (and
its per-image answers in <name>_predictions/ beside it, when there).
"""
import argparse
import json
import math
import os
import statistics
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fmnist  # noqa: E402

MODELS = ["resnet", "vgg", "mobilenetv2", "shufflenetv2", "repvgg"]


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"ptq_subsets: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def write_idx(path, array):
    """uint8 [N, ...] -> an IDX file (magic 0x0000080<rank>, big-endian dims), written whole then renamed."""
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype("uint8").tobytes())
    os.replace(path + ".tmp", path)


def evaluate(qf, model_file, data, threads, pred_file=None):
    """Top-1 count of model_file on data; with pred_file, also its per-image answers (int64 array)."""
    cmd = [qf, "eval", model_file, "--data", data, "--threads", str(threads), "--json"]
    if pred_file:
        cmd += ["--predictions", pred_file]
    c = json.loads(run(cmd))["correct"]
    if not pred_file:
        return c, None
    pred = np.load(pred_file)
    os.remove(pred_file)
    return c, pred


def qforge_counts(qf, model, blocks, n, out, threads, extra, val):
    """fp32 and per-block int8 correct counts on the test set and on the validation split; and, apart, each block's
    int8 answers on the test set."""
    onnx = os.path.join(ROOT, "weights", f"fmnist_{model}.onnx")
    pred_file = os.path.join(out, f"{model}.pred.npy")
    fp32, fp32_pred = evaluate(qf, onnx, "fmnist:test", threads, pred_file)
    res = dict(fp32=fp32, fp32_val=evaluate(qf, onnx, val, threads)[0], int8=[], int8_val=[], agree=[])
    preds = []
    for s, idx in enumerate(blocks):
        q = os.path.join(out, f"{model}.s{s}.q.qf")
        run([qf, "quantize", onnx, "--calib", "idx:" + idx, "-n", str(n), "-o", q, "--threads", str(threads),
             "--quiet"] + extra)
        c, pred = evaluate(qf, q, "fmnist:test", threads, pred_file)
        res["int8"].append(c)
        res["agree"].append(int((pred == fp32_pred).sum()))
        preds.append(pred)
        res["int8_val"].append(evaluate(qf, q, val, threads)[0])
        os.remove(q)
    return res, preds


def mcnemar_p(b, c):
    """Exact two-sided McNemar test: the probability, if both models were equally accurate, of a split of the b + c
    images that only one of them gets right at least as uneven as b : c (binomial, p = 1/2)."""
    k, m = min(b, c), b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2.0 ** m
    return min(1.0, 2.0 * tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", default=os.path.join(ROOT, "build", "qforge"))
    ap.add_argument("--subsets", type=int, default=8)
    ap.add_argument("--calib-n", type=int, default=1024)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "ptq_subsets"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variant", action="append", default=[],
                    help='NAME="extra qforge quantize args" (repeatable; default: default="")')
    ap.add_argument("--val-from", type=int, default=50000)
    ap.add_argument("--pytorch-json", default=None)
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = args.models.split(",")
    n, S = args.calib_n, args.subsets

    variants = {}
    for v in args.variant or ["default="]:
        name, _, extra = v.partition("=")
        variants[name] = extra.split()

    xtr, ytr = fmnist.load("train", args.data_dir)
    if S < 1 or S * n > args.val_from or args.val_from >= len(xtr):
        sys.exit(f"ptq_subsets: {S} blocks of {n} must end before --val-from {args.val_from} < {len(xtr)}")
    blocks = []
    for s in range(S):
        path = os.path.join(args.out, f"calib_s{s}.idx3-ubyte")
        write_idx(path, xtr[s * n:(s + 1) * n])
        blocks.append(path)
    val_images, val_labels = os.path.join(args.out, "val.idx3-ubyte"), os.path.join(args.out, "val.idx1-ubyte")
    write_idx(val_images, xtr[args.val_from:])
    write_idx(val_labels, ytr[args.val_from:])
    val = f"idx:{val_images}:{val_labels}"

    _, yte = fmnist.load("test", args.data_dir)
    pj = args.pytorch_json or os.path.join(args.out, "pytorch.json")
    # PyTorch's per-image answers, for the paired comparison (kept beside the JSON they belong to).
    pt_pred_dir = os.path.splitext(pj)[0] + "_predictions"
    if not args.pytorch_json:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        run(["/usr/bin/python3", os.path.join(HERE, "ptq_pytorch.py"), "--model", ",".join(models), "--calib-n",
             str(n), "--calib-offsets", ",".join(str(s * n) for s in range(S)), "--threads", str(args.threads),
             "--json", pj, "--predictions", pt_pred_dir] + (["--data-dir", args.data_dir] if args.data_dir else []),
            env=env)
    with open(pj) as f:
        pt = json.load(f)["results"]

    rows = {}
    for m in models:
        p = pt[m]
        rows[m] = dict(pytorch_fp32=p["fp32_correct"],
                       pytorch_int8=[p["int8_correct_by_offset"][str(s * n)] for s in range(S)],
                       pytorch_agree=[p["int8_agree_by_offset"][str(s * n)] for s in range(S)]
                       if "int8_agree_by_offset" in p else None, qforge={})
        pt_files = [os.path.join(pt_pred_dir, f"{m}.int8.{s * n}.npy") for s in range(S)]
        pt_preds = [np.load(f) for f in pt_files] if all(os.path.exists(f) for f in pt_files) else None
        for vname, extra in variants.items():
            r, preds = qforge_counts(args.qforge, m, blocks, n, args.out, args.threads, extra, val)
            # Paired, per block: test images only qforge's int8 model gets right, only PyTorch's, McNemar's p.
            r["only_qforge_right"], r["only_pytorch_right"], r["mcnemar_p"] = [], [], []
            for s in range(S) if pt_preds is not None else []:
                q_right, p_right = preds[s] == yte, pt_preds[s] == yte
                b, c = int((q_right & ~p_right).sum()), int((~q_right & p_right).sum())
                r["only_qforge_right"].append(b)
                r["only_pytorch_right"].append(c)
                r["mcnemar_p"].append(mcnemar_p(b, c))
            rows[m]["qforge"][vname] = r
            print(f"{m} [{vname}]: qforge fp32 {r['fp32']} int8 {r['int8']} (val fp32 {r['fp32_val']} int8 "
                  f"{r['int8_val']}); pytorch fp32 {rows[m]['pytorch_fp32']} int8 {rows[m]['pytorch_int8']}",
                  flush=True)
    for b in blocks + [val_images, val_labels]:
        os.remove(b)
    with open(os.path.join(args.out, "subsets.json.tmp"), "w") as f:
        json.dump(dict(calib_n=n, subsets=S, val_from=args.val_from, variants=variants, rows=rows), f, indent=1)
    os.replace(os.path.join(args.out, "subsets.json.tmp"), os.path.join(args.out, "subsets.json"))

    # Drops in points (counts / 100 on 10k images); "better" = fewer test images lost than PyTorch on the same block.
    sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
    n_test = 10000
    dis = (lambda agree: f"{statistics.mean(n_test - a for a in agree):.1f}" if agree else "n/a")
    print(f"\n| model | qforge setting | qforge drop (test), mean ± sd | PyTorch drop (test), mean ± sd | "
          f"qforge − PyTorch | blocks qforge better / equal / worse | qforge drop (train {args.val_from}+) | "
          f"disagreements with fp32 (test), qforge / PyTorch, mean |")
    print("|---|---|---|---|---|---|---|---|")
    paired = []
    for m in models:
        r = rows[m]
        dp = [(r["pytorch_fp32"] - c) / 100 for c in r["pytorch_int8"]]
        for vname, q in r["qforge"].items():
            dq = [(q["fp32"] - c) / 100 for c in q["int8"]]
            dv = [(q["fp32_val"] - c) / 100 for c in q["int8_val"]]
            better = sum(a < b for a, b in zip(dq, dp))
            equal = sum(a == b for a, b in zip(dq, dp))
            print(f"| {m} | {vname} | {statistics.mean(dq):.3f} ± {sd(dq):.3f} | "
                  f"{statistics.mean(dp):.3f} ± {sd(dp):.3f} | {statistics.mean(dq) - statistics.mean(dp):+.3f} | "
                  f"{better} / {equal} / {S - better - equal} | {statistics.mean(dv):.3f} ± {sd(dv):.3f} | "
                  f"{dis(q['agree'])} / {dis(r['pytorch_agree'])} |")
            if q["mcnemar_p"]:
                paired.append(f"| {m} | {vname} | " + " ".join(f"{b}:{c}" for b, c in
                              zip(q["only_qforge_right"], q["only_pytorch_right"])) +
                              f" | {min(q['mcnemar_p']):.2f} | {q['mcnemar_p'][0]:.2f} |")
    if paired:
        print("\n| model | qforge setting | test images only qforge / only PyTorch gets right, per block | "
              "smallest McNemar p over the blocks | p on block 0 |")
        print("|---|---|---|---|---|")
        print("\n".join(paired))

if __name__ == "__main__":
    main()
