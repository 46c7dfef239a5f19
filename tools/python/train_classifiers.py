"""Train, evaluate and export the shipped Fashion-MNIST classifiers (weights/fmnist_<arch>.onnx).

    /usr/bin/python3 tools/python/train_classifiers.py --model all --threads 2

Per model: fixed seeds -> SGD (Nesterov) with 1-epoch linear warm-up + cosine decay, light augmentation
(random crop with 2-pixel zero padding, horizontal flip), checkpoint every epoch in
<ckpt-dir>/<arch>/ckpt.pt (training resumes from it when the config matches; --fresh ignores it).
After the last epoch: fp32 eval of the exported (deploy) form on the 10k test set, RepVGG
re-parameterisation check, ONNX export (opset 13, input "input" [N,1,28,28], output "logits" [N,10],
dynamic batch), qforge.* metadata, onnx.checker, a torch-interpreter run of the .onnx against the
module, the golden logits tests/data/fmnist_<arch>_logits_first64.npy, and weights/MANIFEST.{json,md}.

Randomness is a pure function of (seed, epoch): initialisation from torch.manual_seed(seed), each
epoch's shuffle and augmentation from a generator seeded with seed*1000+epoch, so a resumed run
follows the same path as an uninterrupted one. Data loading is in-process (no workers).
"""
import argparse
import datetime
import hashlib
import io
import json
import math
import os
import shlex
import sys
import time
import warnings
from collections import Counter

import numpy as np
import onnx
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fmnist  # noqa: E402
import models  # noqa: E402
from dump_reference_logits import DEFAULT_CKPT_DIR, OnnxTorchRunner, batched, ckpt_dir  # noqa: E402

# Per-architecture recipe. `--model all` with these defaults reproduces every shipped file.
CONFIGS = {
    "resnet":       dict(epochs=8, lr=0.1, weight_decay=5e-4),
    "vgg":          dict(epochs=8, lr=0.05, weight_decay=5e-4),
    "mobilenetv2":  dict(epochs=8, lr=0.1, weight_decay=5e-4),
    "shufflenetv2": dict(epochs=10, lr=0.1, weight_decay=5e-4),
    "repvgg":       dict(epochs=10, lr=0.1, weight_decay=5e-4),
}
COMMON = dict(batch_size=128, momentum=0.9, nesterov=True, warmup_epochs=1.0, crop_pad=2, hflip=True,
              seed=20240611)
GOLDEN_COUNT = 64
OPSET = 13


def log(msg):
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_input(images_u8):
    """uint8 [N,28,28] tensor -> normalised float [N,1,28,28]."""
    x = images_u8.to(torch.float32).unsqueeze(1) / 255.0
    return (x - fmnist.MEAN) / fmnist.STD


def augment(batch_u8, gen, pad, hflip):
    """Random crop of the zero-padded image (offset 0..2*pad in each axis) and a random h-flip."""
    n, h, w = batch_u8.shape
    if pad:
        padded = F.pad(batch_u8, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h))[:, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, :]
        batch_u8 = padded[torch.arange(n)[:, None, None], rows, cols]
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        batch_u8 = torch.where(flip[:, None, None], batch_u8.flip(-1), batch_u8)
    return batch_u8


def lr_at(step, total, warm, peak):
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return 0.5 * peak * (1.0 + math.cos(math.pi * t))


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # no weight decay on BN scales/shifts and biases
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [dict(params=decay, weight_decay=wd), dict(params=no_decay, weight_decay=0.0)]


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    logits = batched(model, x, 1000)
    return int((logits.argmax(1) == y).sum()), logits


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(name, cfg, data, args):
    xtr_u8, ytr, xte, yte = data
    cdir = os.path.join(ckpt_dir(args.ckpt_dir), name)
    os.makedirs(cdir, exist_ok=True)
    ck_path = os.path.join(cdir, "ckpt.pt")

    torch.manual_seed(cfg["seed"])
    model = models.build(name)
    opt = torch.optim.SGD(param_groups(model, cfg["weight_decay"]), lr=cfg["lr"],
                          momentum=cfg["momentum"], nesterov=cfg["nesterov"])
    start_epoch, train_seconds, cpu_seconds, history = 0, 0.0, 0.0, []
    if os.path.exists(ck_path) and not args.fresh:
        ck = torch.load(ck_path, map_location="cpu")
        if ck["config"] == cfg:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            start_epoch, train_seconds, history = ck["epoch"], ck["train_seconds"], ck["history"]
            cpu_seconds = ck.get("cpu_seconds", 0.0)
            log(f"{name}: resuming from {ck_path} after epoch {start_epoch}")
        else:
            log(f"{name}: checkpoint {ck_path} has a different config, starting over")

    n = xtr_u8.shape[0]
    bs = cfg["batch_size"]
    steps_per_epoch = math.ceil(n / bs)
    if args.max_batches:
        steps_per_epoch = min(steps_per_epoch, args.max_batches)
    total = steps_per_epoch * cfg["epochs"]
    warm = max(1, int(cfg["warmup_epochs"] * steps_per_epoch))

    for epoch in range(start_epoch, cfg["epochs"]):
        t0, c0 = time.time(), time.process_time()
        model.train()
        gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)
        perm = torch.randperm(n, generator=gen)
        loss_sum, seen, right = 0.0, 0, 0
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            lr = lr_at(step, total, warm, cfg["lr"])
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[i * bs:(i + 1) * bs]
            xb = to_input(augment(xtr_u8[idx], gen, cfg["crop_pad"], cfg["hflip"]))
            yb = ytr[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(idx)
            seen += len(idx)
            right += int((out.argmax(1) == yb).sum())
            if args.verbose and i % 100 == 0:
                log(f"{name} e{epoch + 1} it{i}/{steps_per_epoch} loss {float(loss):.4f} lr {lr:.4f}")
        train_seconds += time.time() - t0
        cpu_seconds += time.process_time() - c0
        correct, _ = evaluate(model, xte, yte)
        history.append(dict(epoch=epoch + 1, loss=loss_sum / seen, train_acc=right / seen,
                            test_correct=correct, seconds=round(time.time() - t0, 1),
                            cpu_seconds=round(time.process_time() - c0, 1),
                            threads=args.threads, command=args.command))
        log(f"{name} epoch {epoch + 1}/{cfg['epochs']}: loss {loss_sum / seen:.4f} "
            f"train acc {100.0 * right / seen:.2f}% test {correct}/{len(yte)} "
            f"({time.time() - t0:.0f}s wall, {time.process_time() - c0:.0f}s cpu; "
            f"total train {train_seconds / 60:.1f} min wall, {cpu_seconds / 60:.1f} min cpu)")
        atomic_save(dict(config=cfg, model=model.state_dict(), optimizer=opt.state_dict(),
                         epoch=epoch + 1, train_seconds=train_seconds, cpu_seconds=cpu_seconds,
                         history=history), ck_path)
    return model, (train_seconds, cpu_seconds), history, cdir


def export_onnx(name, deploy, path, extra_meta):
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about int(shape) in the channel shuffle
        torch.onnx.export(deploy, torch.zeros(1, 1, 28, 28), f, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          do_constant_folding=True)
    proto = onnx.load_from_string(f.getvalue())
    props = {"qforge.mean": f"{fmnist.MEAN:.4f}", "qforge.std": f"{fmnist.STD:.4f}",
             "qforge.classes": ",".join(fmnist.CLASSES), "qforge.arch": name}
    props.update(extra_meta)
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
    return proto


def finish(name, cfg, model, seconds, history, cdir, data, args):
    train_seconds, cpu_seconds = seconds
    _, _, xte, yte = data
    model.eval()
    deploy = models.deploy_form(name, model).eval()
    reparam_diff = None
    if name == "repvgg":
        train_correct, train_logits = evaluate(model, xte, yte)
        with torch.no_grad():
            dep_logits = batched(deploy, xte, 1000)
            noise = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
            reparam_diff = max((dep_logits - train_logits).abs().max().item(),
                               (deploy(noise) - model(noise)).abs().max().item())
        log(f"repvgg re-parameterisation: max abs logit diff {reparam_diff:.3g} (multi-branch vs deploy)")
        if not reparam_diff < 1e-4:
            raise SystemExit(f"repvgg re-parameterisation mismatch {reparam_diff} >= 1e-4")
    correct, logits = evaluate(deploy, xte, yte)
    log(f"{name}: fp32 top-1 {correct}/{len(yte)} = {correct / 100:.2f}% (deploy form)")

    atomic_save(dict(config=cfg, arch=name, train_state_dict=model.state_dict(),
                     deploy_state_dict=deploy.state_dict(), test_correct=correct,
                     history=history, train_seconds=train_seconds),
                os.path.join(cdir, "final.pt"))

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"fmnist_{name}.onnx")
    proto = export_onnx(name, deploy, onnx_path, {})
    ops = Counter(n.op_type for n in proto.graph.node)
    with torch.no_grad():
        onnx_logits = batched(OnnxTorchRunner(proto), xte[:1000], 500)
    onnx_diff = (onnx_logits - logits[:1000]).abs().max().item()
    log(f"{name}: onnx op counts {dict(sorted(ops.items()))}; onnx-vs-torch max abs diff "
        f"{onnx_diff:.3g} on 1000 test images")
    if onnx_diff > 1e-3:
        raise SystemExit(f"{name}: exported ONNX disagrees with the torch module ({onnx_diff})")

    os.makedirs(args.golden_dir, exist_ok=True)
    golden = os.path.join(args.golden_dir, f"fmnist_{name}_logits_first{GOLDEN_COUNT}.npy")
    with torch.no_grad():  # one batch of exactly GOLDEN_COUNT, as dump_reference_logits.py --limit 64 does
        golden_logits = deploy(xte[:GOLDEN_COUNT]).float()
    np.save(golden, golden_logits.numpy().astype(np.float32))

    size = os.path.getsize(onnx_path)
    # A model may have been trained (partly) by an earlier run and only resumed/exported by this one:
    # report the command(s) and thread count(s) recorded with each epoch.
    cmds = sorted({h["command"] for h in history if "command" in h}) or [args.command]
    threads = sorted({h["threads"] for h in history if "threads" in h}) or [args.threads]
    if size >= 8 << 20:
        log(f"WARNING: {onnx_path} is {size} bytes (>= 8 MiB)")
    entry = dict(
        file=os.path.relpath(onnx_path, REPO) if onnx_path.startswith(REPO) else onnx_path,
        arch=name, sha256=sha256_file(onnx_path), size_bytes=size,
        command=cmds[0] if len(cmds) == 1 else cmds, torch_version=torch.__version__,
        onnx_version=onnx.__version__, opset=OPSET, threads=threads[0] if len(threads) == 1 else threads,
        top1=round(correct / len(yte), 4), correct=correct, total=len(yte),
        params=models.param_count(deploy), params_trained=models.param_count(model),
        epochs=cfg["epochs"], train_seconds=round(train_seconds, 1),
        train_cpu_seconds=round(cpu_seconds, 1),
        onnx_ops=dict(sorted(ops.items())), onnx_vs_torch_max_abs_diff=float(f"{onnx_diff:.3g}"),
        golden=dict(file=os.path.relpath(golden, REPO) if golden.startswith(REPO) else golden,
                    sha256=sha256_file(golden), images=GOLDEN_COUNT),
        config=cfg, history=history,
    )
    if reparam_diff is not None:
        entry["reparam_max_abs_diff"] = float(f"{reparam_diff:.3g}")
        entry["top1_multibranch_correct"] = train_correct
    if args.command not in cmds:
        entry["exported_by"] = args.command
    if args.max_batches:
        entry["smoke_max_batches"] = args.max_batches
    update_manifest(args.out, name, entry)
    log(f"{name}: wrote {onnx_path} ({size} bytes, sha256 {entry['sha256']}) and {golden}")
    return entry


MD_HEAD = """# Shipped weights

Fashion-MNIST classifiers (28x28x1, 10 classes) made by `tools/python/train_classifiers.py`.
Input `input` float32 [N,1,28,28] = (pixel/255 - qforge.mean) / qforge.std; output `logits` [N,10].
ONNX opset 13, BatchNorm folded into Conv by the exporter. Top-1 is PyTorch fp32 (eval mode, deploy
form) on the 10k Fashion-MNIST test set. Golden logits for the first 64 test images are in
`tests/data/fmnist_<arch>_logits_first64.npy`; `tools/python/dump_reference_logits.py` regenerates them.
MANIFEST.json holds the same facts plus the training recipe and per-epoch history.
"""


def update_manifest(out_dir, name, entry):
    jpath = os.path.join(out_dir, "MANIFEST.json")
    man = {}
    if os.path.exists(jpath):
        with open(jpath) as f:
            man = json.load(f)
    man.setdefault("notes", [])
    man["generated_by"] = "tools/python/train_classifiers.py"
    man.setdefault("models", {})[name] = entry
    man["models"] = {k: man["models"][k] for k in sorted(man["models"], key=_order)}
    with open(jpath, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    write_markdown(out_dir, man)


def _order(name):
    return models.NAMES.index(name) if name in models.NAMES else len(models.NAMES)


def write_markdown(out_dir, man):
    rows = ["| file | arch | top-1 (fp32) | correct | params | epochs | train time | size (bytes) | sha256 | torch |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    cmds = []
    for name, e in man["models"].items():
        rows.append(f"| `{e['file']}` | {name} | {100 * e['correct'] / e['total']:.2f}% | "
                    f"{e['correct']}/{e['total']} | {e['params']:,} | {e['epochs']} | "
                    f"{e['train_seconds'] / 60:.1f} min wall, {e.get('train_cpu_seconds', 0) / 60:.1f} min cpu "
                    f"({e['threads']} thread{'' if e['threads'] == 1 else 's'}) | {e['size_bytes']:,} | "
                    f"`{e['sha256']}` | {e['torch_version']} |")
        c = e["command"] if isinstance(e["command"], list) else [e["command"]]
        cmds.append(f"- `{e['file']}`: " + " then ".join(f"`{x}`" for x in c)
                    + (f" (exported by `{e['exported_by']}`)" if "exported_by" in e else ""))
    ops = []
    for name, e in man["models"].items():
        ops.append(f"- {name}: " + ", ".join(f"{k}×{v}" for k, v in e["onnx_ops"].items()))
    text = MD_HEAD + "\n" + "\n".join(rows) + "\n\n## Commands\n\n" + "\n".join(cmds) + \
        "\n\n## ONNX operators per model\n\n" + "\n".join(ops) + "\n"
    if man.get("notes"):
        text += "\n## Notes\n\n" + "\n".join(f"- {n}" for n in man["notes"]) + "\n"
    with open(os.path.join(out_dir, "MANIFEST.md"), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all", help="|".join(models.NAMES) + "|all (comma list ok)")
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epoch count")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(REPO, "weights"))
    ap.add_argument("--golden-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--ckpt-dir", default=None,
                    help=f"resumable checkpoints (default $QFORGE_TRAIN_DIR or {DEFAULT_CKPT_DIR})")
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    ap.add_argument("--max-batches", type=int, default=0, help="smoke test: batches per epoch")
    ap.add_argument("--verbose", action="store_true")
    fmnist.add_data_dir_arg(ap)
    args = ap.parse_args()
    exe = "/usr/bin/python3" if sys.executable.startswith("/usr/bin/python3") else sys.executable
    script = os.path.relpath(os.path.abspath(__file__), REPO)
    args.command = shlex.join([exe, script] + sys.argv[1:])

    names = models.NAMES if args.model == "all" else args.model.split(",")
    for n in names:
        if n not in models.BUILDERS:
            ap.error(f"unknown model {n}")
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, models {names}")

    tr_x, tr_y = fmnist.load("train", args.data_dir)
    te_x, te_y = fmnist.load("test", args.data_dir)
    data = (torch.from_numpy(tr_x), torch.from_numpy(tr_y.astype(np.int64)),
            torch.from_numpy(fmnist.normalize(te_x)), torch.from_numpy(te_y.astype(np.int64)))

    results = {}
    for name in names:
        cfg = dict(COMMON, **CONFIGS[name])
        if args.epochs:
            cfg["epochs"] = args.epochs
        log(f"=== {name}: {cfg}")
        model, secs, hist, cdir = train(name, cfg, data, args)
        results[name] = finish(name, cfg, model, secs, hist, cdir, data, args)
    for name, e in results.items():
        log(f"{name}: {e['correct']}/{e['total']} params {e['params']} "
            f"{e['train_seconds'] / 60:.1f} min sha256 {e['sha256'][:16]}")


if __name__ == "__main__":
    main()
