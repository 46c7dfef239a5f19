"""Times the peers qforge is compared to on the models of bench/bm_models: PyTorch 1.13 (fp32, and its onednn
quantized model) and ONNX Runtime (onnxruntime-node: fp32 ONNX, and qforge's int8 QDQ export of the same model).

    /usr/bin/python3 tools/bench/peers.py [--prepare] [--out DIR] [--bm-json bm_models.json]

Models: weights/fmnist_{resnet,vgg,mobilenetv2,shufflenetv2,repvgg}.onnx and, when --torchvision-dir (default
/var/tmp/qforge_bench) holds them, tv_resnet18.onnx / tv_mobilenet_v2.onnx from
tools/python/export_torchvision_bench.py (random weights, 224×224). Rows: batch 1 and 64, 1 and 2 threads.

  * PyTorch fp32: the same architectures built from tools/python/models.py (deploy form, weights from the trainer's
    checkpoints in --ckpt-dir when present, else random: speed does not depend on the values) and torchvision's
    builders with the export script's seed; torch.inference_mode().
  * PyTorch int8: FX graph mode PTQ exactly as tools/python/ptq_pytorch.py does it (engine onednn, default
    qconfig mapping), calibrated on the first 256 fmnist:train images (shipped models) or 32 uniform-noise
    images (torchvision).
  * ORT fp32: the ONNX file. ORT int8: the QDQ file written by
    `qforge quantize MODEL --calib fmnist:train -n 256 -o X.q.qf --export-onnx X.qdq.onnx` (torchvision:
    `--calib noise:uniform -n 32`); --prepare makes the missing ones with --qforge (default build-bench/qforge).
    Timed by tools/ort/bench.js (intraOpNumThreads = threads, all graph optimizations).

Method (the same as bm_models): 1 warm-up run, then --reps repetitions (default 3; --heavy-reps, default 1, for
the torchvision batch-64 rows) of at least --min-time seconds (default 0.3) each; the median repetition's time per run gives images/s = batch / time. Every engine runs in a
child process pinned with taskset: 1 thread on CPU 0, 2 threads on CPUs 0,1, OMP_NUM_THREADS = threads; with
--no-spin the 2-thread rows run with OMP_WAIT_POLICY=passive (PyTorch) and allow_spinning=0 (ORT): on a machine
whose cores are shared with other jobs, spinning thread pools lose most of their time waiting for a descheduled
partner thread.

Every row also records the process CPU time per run (all threads): on a shared machine, batch / CPU time of a
1-thread row estimates the speed the engine would have on an idle core.

Writes DIR/peers.json and DIR/peers.md (default DIR build-bench/bench). With --bm-json (Google Benchmark JSON of
bench/bm_models, --benchmark_out_format=json, ideally with --benchmark_repetitions and median aggregates;
repeatable) the tables also have qforge's fp32 and int8 columns and the int8 ÷ fp32 ratio. --table-only re-renders the table from
an existing DIR/peers.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY_TOOLS = os.path.join(ROOT, "tools", "python")
SHIPPED = ["resnet", "vgg", "mobilenetv2", "shufflenetv2", "repvgg"]
TORCHVISION = ["resnet18", "mobilenet_v2"]


def row_name(model):
    return model if model.startswith("tv_") else f"fmnist_{model}"


def model_list(args):
    out = [(f"fmnist_{m}", os.path.join(ROOT, "weights", f"fmnist_{m}.onnx"), (1, 28, 28)) for m in SHIPPED]
    for m in TORCHVISION:
        p = os.path.join(args.torchvision_dir, f"tv_{m}.onnx")
        if os.path.exists(p):
            out.append((f"tv_{m}", p, (3, 224, 224)))
        else:
            print(f"peers: tv_{m} skipped: {p} not found (tools/python/export_torchvision_bench.py)", file=sys.stderr)
    if args.models != "all":
        keep = set(args.models.split(","))
        out = [m for m in out if m[0] in keep]
    return out


def qdq_path(args, name):
    return os.path.join(args.qdq_dir, f"{name}.qdq.onnx")


def prepare(args, models):
    os.makedirs(args.qdq_dir, exist_ok=True)
    for name, path, _ in models:
        out = qdq_path(args, name)
        if os.path.exists(out):
            continue
        calib = ["--calib", "noise:uniform", "-n", "32"] if name.startswith("tv_") else \
                ["--calib", "fmnist:train", "-n", "256"]
        cmd = [args.qforge, "quantize", path, *calib, "-o", os.path.join(args.qdq_dir, f"{name}.q.qf"),
               "--export-onnx", out]
        print("peers:", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)


def pinned(threads, passive=False):
    cpus = "0" if threads == 1 else ",".join(str(i) for i in range(threads))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if passive:
        env["OMP_WAIT_POLICY"] = "passive"
    return ["taskset", "-c", cpus], env


def reps_for(args, name, batch):
    return args.heavy_reps if name.startswith("tv_") and batch >= 64 else args.reps


# ------------------------------------------------------------------ PyTorch (runs in a pinned child process)
def timed(fn, batch, min_time, reps):
    fn()  # warm-up
    per, cpu = [], []
    for _ in range(reps):
        n = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        t = t0
        while True:
            fn()
            n += 1
            t = time.perf_counter()
            if t - t0 >= min_time:
                break
        cpu.append((time.process_time() - c0) / n)
        per.append((t - t0) / n)
    mid = sorted(range(len(per)), key=lambda i: per[i])[len(per) // 2]
    return dict(batch=batch, seconds_per_run=per, cpu_seconds_per_run=cpu, median_s=per[mid], cpu_s=cpu[mid],
                images_per_s=batch / per[mid])


def torch_worker(args):
    import torch
    sys.path.insert(0, PY_TOOLS)
    import export_torchvision_bench as tvb
    import fmnist
    import models as fm_models
    import ptq_pytorch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.set_num_threads(args.threads)
    engines = torch.backends.quantized.supported_engines
    engine = "onednn" if "onednn" in engines else "fbgemm"
    torch.backends.quantized.engine = engine
    qmap = get_default_qconfig_mapping(engine)
    fm_models.channel_shuffle = ptq_pytorch.channel_shuffle_fx
    fm_models.ShuffleUnit.forward = ptq_pytorch.shuffle_unit_forward_fx
    ckpt_dir = args.ckpt_dir or os.environ.get("QFORGE_TRAIN_DIR") or ptq_pytorch.DEFAULT_CKPT_DIR
    calib_fm = None
    results = []
    for name in args.worker_models.split(","):
        if name.startswith("tv_"):
            fp = tvb.build(name[3:], args.tv_seed)
            g = torch.Generator().manual_seed(0)
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            calib = (torch.rand(32, 3, 224, 224, generator=g) - mean) / std
            weights = f"torchvision random (seed {args.tv_seed})"
        else:
            arch = name[len("fmnist_"):]
            try:
                fp = ptq_pytorch.load_deploy(arch, ckpt_dir)
                weights = "trained (checkpoint, else weights/fmnist_<arch>_bn.onnx)"
            except SystemExit:
                torch.manual_seed(0)
                fp = fm_models.deploy_form(arch, fm_models.build(arch).eval()).eval()
                weights = "random (no checkpoint)"
            if calib_fm is None:
                xtr, _ = fmnist.load("train", None)
                calib_fm = torch.from_numpy(fmnist.normalize(xtr[:256]))
            calib = calib_fm
        fp.eval()
        with torch.no_grad():
            prepared = prepare_fx(fp, qmap, example_inputs=(calib[:1],))
            for s in range(0, len(calib), 64):
                prepared(calib[s:s + 64])
            q = convert_fx(prepared)
        shape = tuple(calib.shape[1:])
        for kind, m in (("fp32", fp), ("int8", q)):
            for b in args.batches:
                x = torch.randn(b, *shape, generator=torch.Generator().manual_seed(1))
                try:
                    with torch.inference_mode():
                        r = timed(lambda: m(x), b, args.min_time, reps_for(args, name, b))
                except RuntimeError as e:  # e.g. onednn "could not create a primitive descriptor"
                    msg = str(e).splitlines()[0]
                    print(f"peers: pytorch {kind} {name} batch {b} threads {args.threads} FAILED: {msg}",
                          file=sys.stderr, flush=True)
                    results.append(dict(engine="pytorch", kind=kind, model=name, batch=b, threads=args.threads,
                                        error=msg))
                    continue
                r.update(engine="pytorch", kind=kind, model=name, threads=args.threads, weights=weights,
                         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"),
                         quantized_engine=engine if kind == "int8" else None)
                results.append(r)
                print(f"peers: pytorch {kind} {name} batch {b} threads {args.threads}: "
                      f"{r['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)
    json.dump(dict(torch=torch.__version__, rows=results), sys.stdout)


def run_torch(args, models, threads):
    prefix, env = pinned(threads, args.no_spin and threads > 1)
    cmd = prefix + [sys.executable, os.path.abspath(__file__), "--torch-worker", "--threads", str(threads),
                    "--worker-models", ",".join(m[0] for m in models), "--batches", ",".join(map(str, args.batches)),
                    "--min-time", str(args.min_time), "--reps", str(args.reps), "--heavy-reps", str(args.heavy_reps),
                    "--tv-seed", str(args.tv_seed)]
    if args.ckpt_dir:
        cmd += ["--ckpt-dir", args.ckpt_dir]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


# ------------------------------------------------------------------ ONNX Runtime (tools/ort/bench.js)
def run_ort(args, models, threads):
    prefix, env = pinned(threads, args.no_spin and threads > 1)
    rows, versions = [], None
    for name, path, shape in models:
        for kind, file in (("fp32", path), ("int8", qdq_path(args, name))):
            if not os.path.exists(file):
                print(f"peers: ORT {kind} {name} skipped: {file} not found (--prepare)", file=sys.stderr)
                continue
            cmd = prefix + ["node", os.path.join(ROOT, "tools", "ort", "bench.js"), file,
                            "--shape", ",".join(map(str, shape)), "--batches", ",".join(map(str, args.batches)),
                            "--threads", str(threads), "--min-time", str(args.min_time),
                            "--reps", ",".join(str(reps_for(args, name, b)) for b in args.batches)]
            if args.no_spin and threads > 1:
                cmd.append("--no-spin")
            proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE)
            if proc.returncode != 0:
                print(f"peers: ORT {kind} {name} threads {threads} FAILED (exit {proc.returncode})", file=sys.stderr)
                rows += [dict(engine="ort", kind=kind, model=name, batch=b, threads=threads, error="failed")
                         for b in args.batches]
                continue
            res = json.loads(proc.stdout)
            versions = res["ort"]
            for r in res["rows"]:
                r.update(engine="ort", kind=kind, model=name, threads=threads, file=file,
                         no_spin=bool(args.no_spin and threads > 1))
                rows.append(r)
                print(f"peers: ort {kind} {name} batch {r['batch']} threads {threads}: "
                      f"{r['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)
    return rows, versions


# ------------------------------------------------------------------ table
def bm_rows(paths):
    """bm_models Google Benchmark JSON files -> ({(model, kind, batch, threads): images/s by wall time},
    {same key: images per process-CPU second}), from the median aggregate when present, else the median run."""
    plain, median = {}, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            parts = b.get("run_name", b["name"]).split("/")
            if len(parts) < 4 or "images_per_s" not in b:
                continue
            model, kind = parts[0], parts[1].replace("qforge_", "")
            batch = int(parts[2].split(":")[1])
            threads = int(parts[3].split(":")[1])
            key = (model, kind, batch, threads)
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
            val = (b["images_per_s"], batch / (b["cpu_time"] * unit))
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    median[key] = val
            else:
                plain.setdefault(key, []).append(val)
    out = {k: sorted(v)[len(v) // 2] for k, v in plain.items()}
    out.update(median)
    return {k: v[0] for k, v in out.items()}, {k: v[1] for k, v in out.items()}


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def render(peers, bm, order, cpu=False, only_threads=None):
    """Markdown table: images/s by wall time, or (cpu=True) images per process-CPU second."""
    get = {}
    for r in peers["rows"]:
        if "error" in r:
            get[(r["engine"], r["kind"], r["model"], r["batch"], r["threads"])] = "error"
            continue
        v = r["batch"] / r["cpu_s"] if cpu else r["images_per_s"]
        get[(r["engine"], r["kind"], r["model"], r["batch"], r["threads"])] = v
    cols = [("qforge int8", "qforge", "int8"), ("qforge fp32", "qforge", "fp32"), ("ORT fp32", "ort", "fp32"),
            ("ORT int8 QDQ", "ort", "int8"), ("PyTorch fp32", "pytorch", "fp32"),
            ("PyTorch int8 (onednn)", "pytorch", "int8")]
    keys = sorted({(r["model"], r["batch"], r["threads"]) for r in peers["rows"]} |
                  {(k[0], k[2], k[3]) for k in bm},
                  key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[0], k[1], k[2]))
    if only_threads:
        keys = [k for k in keys if k[2] == only_threads]
    lines = ["| model | batch | threads | " + " | ".join(c[0] for c in cols) +
             " | qforge int8 ÷ fp32 | qforge int8 ÷ best peer |",
             "|---|---:|---:|" + "---:|" * (len(cols) + 2)]
    for model, batch, threads in keys:
        vals = []
        for _, eng, kind in cols:
            if eng == "qforge":
                vals.append(bm.get((model, kind, batch, threads)))
            else:
                vals.append(get.get((eng, kind, model, batch, threads)))
        q8, q32 = vals[0], vals[1]
        peer = [v for v in vals[2:] if isinstance(v, float)]
        ratio = f"{q8 / q32:.2f}×" if q8 and q32 else "–"
        vs = f"{q8 / max(peer):.2f}×" if q8 and peer else "–"
        lines.append(f"| {model} | {batch} | {threads} | " + " | ".join(fmt(v) for v in vals) + f" | {ratio} | {vs} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="all", help="comma list of row names (fmnist_resnet, tv_resnet18, ...)")
    ap.add_argument("--engines", default="pytorch,ort")
    ap.add_argument("--threads-list", default="1,2")
    ap.add_argument("--batches", default="1,64", type=lambda s: [int(v) for v in s.split(",")])
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--heavy-reps", type=int, default=1, help="repetitions of the tv_* batch-64 rows (default 1)")
    ap.add_argument("--no-spin", action="store_true",
                    help="2-thread rows: OMP_WAIT_POLICY=passive (PyTorch) and ORT allow_spinning=0")
    ap.add_argument("--torchvision-dir", default=os.environ.get("QFORGE_TORCHVISION_DIR", "/var/tmp/qforge_bench"))
    ap.add_argument("--tv-seed", type=int, default=0, help="seed the torchvision ONNX files were exported with")
    ap.add_argument("--qdq-dir", default=None, help="QDQ files (default TORCHVISION_DIR/qdq)")
    ap.add_argument("--qforge", default=os.path.join(ROOT, "build-bench", "qforge"))
    ap.add_argument("--prepare", action="store_true", help="make missing QDQ files with qforge quantize first")
    ap.add_argument("--ckpt-dir", default=None)
    ap.add_argument("--out", default=os.path.join(ROOT, "build-bench", "bench"))
    ap.add_argument("--bm-json", action="append", default=[],
                    help="bench/bm_models JSON output, for the qforge columns (repeatable)")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-models", default="", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    args.qdq_dir = args.qdq_dir or os.path.join(args.torchvision_dir, "qdq")
    os.makedirs(args.out, exist_ok=True)
    jpath = os.path.join(args.out, "peers.json")
    models = model_list(args)
    order = [m[0] for m in models]
    if args.table_only:
        with open(jpath) as f:
            peers = json.load(f)
    else:
        if args.prepare:
            prepare(args, models)
        engines = args.engines.split(",")
        peers = dict(rows=[], started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                     loadavg_start=os.getloadavg(), method=dict(min_time=args.min_time, reps=args.reps))
        for t in (int(v) for v in args.threads_list.split(",")):
            if "pytorch" in engines:
                res = run_torch(args, models, t)
                peers["torch"] = res["torch"]
                peers["rows"] += res["rows"]
            if "ort" in engines:
                rows, versions = run_ort(args, models, t)
                peers["onnxruntime"] = versions
                peers["rows"] += rows
        peers["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        peers["loadavg_end"] = os.getloadavg()
        with open(jpath + ".tmp", "w") as f:
            json.dump(peers, f, indent=1)
        os.replace(jpath + ".tmp", jpath)
    bm, bm_cpu = bm_rows(args.bm_json) if args.bm_json else ({}, {})
    table = ("### images/s (wall clock)\n\n" + render(peers, bm, order) +
             "\n### 1 thread: images per CPU-second (process CPU time)\n\n" +
             render(peers, bm_cpu, order, cpu=True, only_threads=1))
    with open(os.path.join(args.out, "peers.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
