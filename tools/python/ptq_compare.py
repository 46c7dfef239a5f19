"""W8A8 post-training quantization of every shipped model, three ways, on the same 1024 calibration images:
qforge (its default calibrator), PyTorch 1.13's own PTQ (tools/python/ptq_pytorch.py) and ONNX Runtime running
qforge's QDQ export (tools/ort/run_qdq.js). Writes a JSON of the figures and prints the Markdown table that
docs/results.md quotes.

    /usr/bin/python3 tools/python/ptq_compare.py --qforge build/qforge [--calib-n 1024] [--out results/ptq]
                                                 [--models resnet,vgg,...] [--threads 1] [--skip-pytorch]

All top-1 figures are on the full Fashion-MNIST test set (10,000 images): counts, not rounded percentages.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = ["resnet", "vgg", "mobilenetv2", "shufflenetv2", "repvgg"]


def run(cmd, env=None):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"ptq_compare: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout, time.time() - t0


def qforge_side(qf, model, n, out, threads):
    onnx = os.path.join(ROOT, "weights", f"fmnist_{model}.onnx")
    q = os.path.join(out, f"{model}.q.qf")
    qdq = os.path.join(out, f"{model}.qdq.onnx")
    _, tq = run([qf, "quantize", onnx, "--calib", "fmnist:train", "-n", str(n), "-o", q, "--export-onnx", qdq,
                 "--threads", str(threads), "--quiet"])
    res = {}
    txt, _ = run([qf, "eval", onnx, "--data", "fmnist:test", "--threads", str(threads), "--json"])
    res["fp32"] = json.loads(txt)
    txt, _ = run([qf, "eval", q, "--data", "fmnist:test", "--threads", str(threads), "--reference", onnx, "--json"])
    res["int8"] = json.loads(txt)  # with "agreement": % of test images where int8 and fp32 pick the same class
    res["quantize_seconds"] = tq
    res["files"] = {"int8": q, "qdq": qdq}
    return res


def ort_side(qdq, threads):
    txt, _ = run(["node", os.path.join(ROOT, "tools", "ort", "run_qdq.js"), qdq, "--threads", str(threads), "--json"])
    return json.loads(txt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", default=os.path.join(ROOT, "build", "qforge"))
    ap.add_argument("--calib-n", type=int, default=1024)
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "ptq"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-pytorch", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="take the qforge/ORT rows of an earlier run in --out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = args.models.split(",")
    rows = {}
    cache = os.path.join(args.out, "qforge_ort.json")
    if args.reuse and os.path.exists(cache):
        with open(cache) as f:
            rows = json.load(f)
    for m in models:
        if m in rows:
            continue
        r = qforge_side(args.qforge, m, args.calib_n, args.out, args.threads)
        r["ort"] = ort_side(r["files"]["qdq"], args.threads)
        rows[m] = r
        with open(cache + ".tmp", "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(cache + ".tmp", cache)
        print(f"{m}: qforge fp32 {r['fp32']['correct']} int8 {r['int8']['correct']} ort-qdq {r['ort']['correct']}",
              flush=True)
    if not args.skip_pytorch:
        pj = os.path.join(args.out, "pytorch.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        run(["/usr/bin/python3", os.path.join(HERE, "ptq_pytorch.py"), "--model", ",".join(models), "--calib-n",
             str(args.calib_n), "--json", pj], env=env)
        with open(pj) as f:
            pt = json.load(f)
        for m in models:
            rows[m]["pytorch"] = pt["results"][m]
    with open(os.path.join(args.out, "ptq_compare.json"), "w") as f:
        json.dump(rows, f, indent=1)
    # The table: points are counts / 100 on the 10k test set.
    print("\n| model | fp32 | qforge int8 | drop | agreement | ORT (qforge QDQ) | ORT − qforge | PyTorch fp32 | "
          "PyTorch int8 | PyTorch drop |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in models:
        r = rows[m]
        f, q, o = r["fp32"]["correct"], r["int8"]["correct"], r["ort"]["correct"]
        line = (f"| {m} | {f / 100:.2f} | {q / 100:.2f} | {(f - q) / 100:.2f} | {r['int8']['agreement']:.2f} | "
                f"{o / 100:.2f} | {(o - q) / 100:+.2f} |")
        if "pytorch" in r:
            p = r["pytorch"]
            pf, pq = round(p["fp32_top1"] * 100), round(p["int8_top1"] * 100)
            line += f" {pf / 100:.2f} | {pq / 100:.2f} | {(pf - pq) / 100:.2f} |"
        else:
            line += " | | |"
        print(line)


if __name__ == "__main__":
    main()
