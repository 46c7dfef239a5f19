"""qforge's default W8A8 PTQ against PyTorch 1.13's, over several disjoint calibration sets of real images.

    /usr/bin/python3 tools/python/ptq_subsets.py --qforge build/qforge [--subsets 8] [--calib-n 1024]
                                                 [--models resnet,...] [--out results/ptq_subsets] [--threads 1]

One calibration set (tools/python/ptq_compare.py) decides "no worse than PyTorch" by a handful of test images, as
many as another set of 1024 calibration images moves either tool. This script calibrates both on S disjoint blocks
of the Fashion-MNIST training set, images [s*n, (s+1)*n) for s = 0..S-1 (block 0 is ptq_compare.py's set), evaluates
every int8 model on the full 10k test set and prints, per model, the mean drop of each tool, its spread, and on how
many blocks qforge is better, equal or worse. qforge reads each block from an IDX file written here (the same
normalisation as fmnist:train: the model's metadata); PyTorch gets the same block (ptq_pytorch.py
--calib-offsets). Writes <out>/subsets.json.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys

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


def write_idx_images(path, images):
    """uint8 [N, H, W] -> an IDX3 file (magic 0x00000803, big-endian dims), written whole then renamed."""
    n, h, w = images.shape
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w))
        f.write(images.tobytes())
    os.replace(path + ".tmp", path)


def qforge_counts(qf, model, blocks, n, out, threads):
    onnx = os.path.join(ROOT, "weights", f"fmnist_{model}.onnx")
    fp = json.loads(run([qf, "eval", onnx, "--data", "fmnist:test", "--threads", str(threads), "--json"]))
    counts = []
    for s, idx in enumerate(blocks):
        q = os.path.join(out, f"{model}.s{s}.q.qf")
        run([qf, "quantize", onnx, "--calib", "idx:" + idx, "-n", str(n), "-o", q, "--threads", str(threads),
             "--quiet"])
        r = json.loads(run([qf, "eval", q, "--data", "fmnist:test", "--threads", str(threads), "--json"]))
        counts.append(r["correct"])
        os.remove(q)
    return fp["correct"], counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", default=os.path.join(ROOT, "build", "qforge"))
    ap.add_argument("--subsets", type=int, default=8)
    ap.add_argument("--calib-n", type=int, default=1024)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "ptq_subsets"))
    ap.add_argument("--threads", type=int, default=1)
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = args.models.split(",")
    n, S = args.calib_n, args.subsets

    xtr, _ = fmnist.load("train", args.data_dir)
    if S < 1 or S * n > len(xtr):
        sys.exit(f"ptq_subsets: {S} blocks of {n} do not fit in {len(xtr)} training images")
    blocks = []
    for s in range(S):
        path = os.path.join(args.out, f"calib_s{s}.idx3-ubyte")
        write_idx_images(path, xtr[s * n:(s + 1) * n])
        blocks.append(path)

    pj = os.path.join(args.out, "pytorch.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    run(["/usr/bin/python3", os.path.join(HERE, "ptq_pytorch.py"), "--model", ",".join(models), "--calib-n", str(n),
         "--calib-offsets", ",".join(str(s * n) for s in range(S)), "--threads", str(args.threads), "--json", pj]
        + (["--data-dir", args.data_dir] if args.data_dir else []), env=env)
    with open(pj) as f:
        pt = json.load(f)["results"]

    rows = {}
    for m in models:
        qf_fp, qf_q = qforge_counts(args.qforge, m, blocks, n, args.out, args.threads)
        p = pt[m]
        pt_fp = p["fp32_correct"]
        pt_q = [p["int8_correct_by_offset"][str(s * n)] for s in range(S)]
        rows[m] = dict(qforge_fp32=qf_fp, qforge_int8=qf_q, pytorch_fp32=pt_fp, pytorch_int8=pt_q)
        print(f"{m}: qforge fp32 {qf_fp} int8 {qf_q}; pytorch fp32 {pt_fp} int8 {pt_q}", flush=True)
    for b in blocks:
        os.remove(b)
    with open(os.path.join(args.out, "subsets.json.tmp"), "w") as f:
        json.dump(dict(calib_n=n, subsets=S, rows=rows), f, indent=1)
    os.replace(os.path.join(args.out, "subsets.json.tmp"), os.path.join(args.out, "subsets.json"))

    # Drops in points (counts / 100 on the 10k test set); "better" = fewer test images lost than PyTorch on the
    # same block.
    print(f"\n| model | qforge drop, mean ± sd | PyTorch drop, mean ± sd | qforge − PyTorch (mean) | "
          f"blocks qforge better / equal / worse |")
    print("|---|---|---|---|---|")
    for m in models:
        r = rows[m]
        dq = [(r["qforge_fp32"] - c) / 100 for c in r["qforge_int8"]]
        dp = [(r["pytorch_fp32"] - c) / 100 for c in r["pytorch_int8"]]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        better = sum(a < b for a, b in zip(dq, dp))
        equal = sum(a == b for a, b in zip(dq, dp))
        print(f"| {m} | {statistics.mean(dq):.3f} ± {sd(dq):.3f} | {statistics.mean(dp):.3f} ± {sd(dp):.3f} | "
              f"{statistics.mean(dq) - statistics.mean(dp):+.3f} | {better} / {equal} / {S - better - equal} |")


if __name__ == "__main__":
    main()
