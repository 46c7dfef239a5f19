"""Train a small class-conditional StyleGAN2 on Fashion-MNIST (CPU, one thread), resumable.

  /usr/bin/python3 tools/python/train_stylegan2.py [--run-dir /var/tmp/qforge_stylegan2] [--kimg 400]
  /usr/bin/python3 tools/python/train_stylegan2.py --export weights/fmnist_stylegan2.qf   # from the checkpoint

Data: Fashion-MNIST train split (IDX gz), padded 28 -> 32 with background, 1 channel, scaled to [-1, 1].
Model: stylegan2_ref.Generator (official parameter names; exported G_ema goes to the qforge container) and
stylegan2_ref.Discriminator (residual, projection-conditioned). Loss: non-saturating logistic, lazy R1 on reals
(every --r1-interval D steps, scaled by the interval), Adam(lr, betas=(0, 0.99), eps=1e-8) with the lazy-reg
correction for D, EMA of G with a half-life of --ema-kimg thousand images (ramped up over the first 5%).
Resume: the newest checkpoint in --run-dir is loaded automatically (atomic writes: tmp + rename).
Every --snap-min minutes: a checkpoint and a PNG grid (rows = classes, columns = fixed z) from G_ema.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import stylegan2_ref as sg  # noqa: E402

G_KWARGS = dict(z_dim=64, c_dim=10, w_dim=128, img_resolution=32, img_channels=1,
                mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=1024, channel_max=128, num_fp16_res=0, conv_clamp=256,
                                      architecture="skip"))
D_KWARGS = dict(c_dim=10, img_resolution=32, img_channels=1, channel_base=1024, channel_max=128)


def log(msg, path=None):
    line = time.strftime("%Y-%m-%d %H:%M:%S ") + msg
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def load_data(data_dir):
    x, y = fmnist.load("train", data_dir)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    x = torch.from_numpy(x).float().div(127.5).sub(1.0).unsqueeze(1)  # [N,1,32,32] in [-1,1]
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


def save_grid(path, imgs, rows):
    """imgs [N,C,H,W] in [-1,1] -> PNG grid with `rows` rows."""
    from PIL import Image
    n, c, h, w = imgs.shape
    cols = n // rows
    a = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    a = a.reshape(rows, cols, c, h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c)
    img = Image.fromarray(a[:, :, 0] if c == 1 else a)
    img = img.resize((img.width * 2, img.height * 2), Image.NEAREST)
    tmp = path + ".tmp.png"
    img.save(tmp)
    os.replace(tmp, path)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build(args):
    G = sg.Generator(**G_KWARGS)
    D = sg.Discriminator(**D_KWARGS)
    G_ema = sg.Generator(**G_KWARGS).eval()
    G_ema.load_state_dict(G.state_dict())
    for p in G_ema.parameters():
        p.requires_grad_(False)
    r = args.r1_interval / (args.r1_interval + 1)
    opt_G = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=args.lr * r, betas=(0.0, 0.99 ** r), eps=1e-8)
    return G, D, G_ema, opt_G, opt_D


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def update_manifest(path, entry):
    """Adds/updates MANIFEST.json["generators"]["fmnist_stylegan2"] and one line in "notes" (which
    train_classifiers.py renders into MANIFEST.md), then re-renders MANIFEST.md with that script's writer so the
    classifier rows stay exactly as their owner writes them."""
    out_dir = os.path.dirname(os.path.abspath(path))
    man = {}
    if os.path.exists(path):
        with open(path) as f:
            man = json.load(f)
    man.setdefault("generators", {})["fmnist_stylegan2"] = entry
    cc = entry.get("class_consistency")
    note = (f"`{entry['file']}` (StyleGAN2-ADA generator, class-conditional Fashion-MNIST 32x32x1, qforge container, "
            f"{entry['size_bytes']:,} bytes, sha256 `{entry['sha256']}`): {entry['kimg']} kimg, "
            f"{entry['train_hours']:.1f} h on 1 thread; class consistency "
            + (f"{100 * cc:.1f}% (shipped ResNet's label == class asked for, psi 1, 1000 per class)" if cc is not None
               else "not measured")
            + f". Made by `{entry['command']}`; see MANIFEST.json generators.fmnist_stylegan2 and docs/stylegan2.md.")
    notes = [n for n in man.setdefault("notes", []) if "fmnist_stylegan2.qf" not in n]
    notes.append(note)
    man["notes"] = notes
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    if man.get("models"):
        import train_classifiers
        train_classifiers.write_markdown(out_dir, man)
    print(f"updated {path} (+ MANIFEST.md)")


def export(args):
    ck = torch.load(os.path.join(args.run_dir, "ckpt.pt"), map_location="cpu")
    G = sg.Generator(**ck["G_kwargs"]).eval()
    G.load_state_dict(ck["G_ema"])
    n = sum(p.numel() for p in G.state_dict().values())
    sg.save_generator(args.export, G, {
        "qforge.stylegan2.trained_on": "Fashion-MNIST train (28x28 padded to 32x32, [-1,1])",
        "qforge.stylegan2.kimg": f"{ck['nimg'] / 1000:.1f}",
        "qforge.stylegan2.classes": json.dumps(fmnist.CLASSES),
        "qforge.made_by": "tools/python/train_stylegan2.py"})
    size = os.path.getsize(args.export)
    if "train_seconds" not in ck:  # older checkpoints: wall time from the log's first line to the checkpoint
        with open(os.path.join(args.run_dir, "train.log")) as f:
            first = f.readline()[:19]
        t_first = time.mktime(time.strptime(first, "%Y-%m-%d %H:%M:%S"))
        ck["train_seconds"] = os.path.getmtime(os.path.join(args.run_dir, "ckpt.pt")) - t_first
    print(f"exported G_ema ({n} floats, {size} bytes, {ck['nimg'] / 1000:.1f} kimg) -> {args.export}")
    if size >= 8 << 20:
        raise SystemExit(f"{args.export}: {size} bytes, over the 8 MiB budget")
    if args.manifest:
        cc = None
        per_class = None
        if args.eval_json:
            with open(args.eval_json) as f:
                ev = json.load(f)
            cc, per_class = ev["class_consistency"], ev["per_class_accuracy"]
        rel = os.path.relpath(os.path.abspath(args.export), os.path.dirname(os.path.dirname(os.path.abspath(args.manifest))))
        update_manifest(args.manifest, dict(
            file=rel, kind="stylegan2", sha256=sha256_file(args.export), size_bytes=size, params=n,
            kimg=round(ck["nimg"] / 1000, 1), iterations=ck["it"], train_hours=ck["train_seconds"] / 3600,
            config=sg.generator_config(G), D_kwargs=ck["D_kwargs"],
            recipe=dict(batch=32, lr=0.0025, betas=[0, 0.99], loss="non-saturating logistic", r1_gamma=0.1,
                        r1_interval=16, ema_kimg=10, threads=1, data="Fashion-MNIST train, padded to 32x32"),
            class_consistency=cc, per_class_consistency=per_class,
            command="/usr/bin/python3 tools/python/train_stylegan2.py (resumable; then --export)",
            torch_version=torch.__version__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="/var/tmp/qforge_stylegan2")
    fmnist.add_data_dir_arg(ap)
    ap.add_argument("--kimg", type=float, default=1000.0, help="stop after this many thousand real images")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.0025)
    ap.add_argument("--r1-gamma", type=float, default=0.1)
    ap.add_argument("--r1-interval", type=int, default=16)
    ap.add_argument("--ema-kimg", type=float, default=10.0)
    ap.add_argument("--snap-min", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-iters", type=int, default=0, help="stop after this many iterations in this run (smoke)")
    ap.add_argument("--export", default=None, help="write the checkpoint's G_ema to this qforge container and exit")
    ap.add_argument("--manifest", default=None, help="with --export: update this weights/MANIFEST.json")
    ap.add_argument("--eval-json", default=None, help="with --manifest: eval_stylegan2_classes.py --json output")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.export:
        export(args)
        return
    os.makedirs(args.run_dir, exist_ok=True)
    logf = os.path.join(args.run_dir, "train.log")
    ckpath = os.path.join(args.run_dir, "ckpt.pt")

    torch.manual_seed(args.seed)
    G, D, G_ema, opt_G, opt_D = build(args)
    nimg, it = 0, 0
    train_seconds = 0.0
    gen = torch.Generator().manual_seed(args.seed)
    if os.path.exists(ckpath):
        ck = torch.load(ckpath, map_location="cpu")
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        G_ema.load_state_dict(ck["G_ema"])
        opt_G.load_state_dict(ck["opt_G"])
        opt_D.load_state_dict(ck["opt_D"])
        nimg, it = ck["nimg"], ck["it"]
        train_seconds = ck.get("train_seconds", 0.0)
        gen.set_state(ck["gen_state"])
        torch.set_rng_state(ck["torch_state"])
        log(f"resumed from {ckpath} at it {it}, {nimg / 1000:.1f} kimg", logf)
    else:
        log(f"new run: G {sum(p.numel() for p in G.parameters())} params, "
            f"D {sum(p.numel() for p in D.parameters())} params, args {vars(args)}", logf)

    X, Y = load_data(args.data_dir)
    N = X.shape[0]
    eye = torch.eye(10)
    grid_z = torch.randn(10, G.z_dim, generator=torch.Generator().manual_seed(123)).repeat(10, 1)
    grid_c = eye[torch.arange(10).repeat_interleave(10)]

    def snapshot():
        atomic_save({"G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
                     "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "nimg": nimg, "it": it,
                     "train_seconds": train_seconds + (time.time() - t0),
                     "gen_state": gen.get_state(), "torch_state": torch.get_rng_state(),
                     "G_kwargs": G_KWARGS, "D_kwargs": D_KWARGS}, ckpath)
        with torch.no_grad():
            imgs = G_ema(grid_z, grid_c, noise_mode="const")
        save_grid(os.path.join(args.run_dir, "grid.png"), imgs, rows=10)
        save_grid(os.path.join(args.run_dir, f"grid_{nimg // 1000:06d}k.png"), imgs, rows=10)

    B = args.batch
    t_last_snap = time.time()
    t0 = time.time()
    run_iters = 0
    stats = []
    while nimg < args.kimg * 1000:
        idx = torch.randint(0, N, (B,), generator=gen)
        real, real_c = X[idx], eye[Y[idx]]
        z = torch.randn(B, G.z_dim, generator=gen)
        gen_c = eye[torch.randint(0, 10, (B,), generator=gen)]

        # D step: minimise D(G(z)), maximise D(x); lazy R1. The generated batch (with its graph) is reused by
        # the G step below, so G runs forward once per iteration.
        G.requires_grad_(True)
        D.requires_grad_(True)
        fake = G(z, gen_c)
        opt_D.zero_grad(set_to_none=True)
        do_r1 = args.r1_gamma > 0 and it % args.r1_interval == 0
        real_in = real.detach().requires_grad_(do_r1)
        logits_fake = D(fake.detach(), gen_c)
        logits_real = D(real_in, real_c)
        loss_D = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        r1 = torch.zeros([])
        if do_r1:
            g, = torch.autograd.grad(logits_real.sum(), real_in, create_graph=True)
            r1 = g.square().sum([1, 2, 3]).mean()
            loss_D = loss_D + r1 * (args.r1_gamma / 2) * args.r1_interval
        loss_D.backward()
        opt_D.step()

        # G step: maximise D(G(z)) under the updated D.
        D.requires_grad_(False)
        opt_G.zero_grad(set_to_none=True)
        loss_G = F.softplus(-D(fake, gen_c)).mean()
        loss_G.backward()
        opt_G.step()

        # EMA of G.
        nimg += B
        it += 1
        run_iters += 1
        ema_nimg = min(args.ema_kimg * 1000, nimg * 0.05)
        beta = 0.5 ** (B / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.copy_(p.lerp(pe, beta))
            for be, b in zip(G_ema.buffers(), G.buffers()):
                be.copy_(b)
        stats.append((loss_G.item(), loss_D.item(), logits_real.mean().item(), logits_fake.mean().item()))
        if do_r1:
            stats[-1] += (r1.item(),)

        if it % 50 == 0:
            s = np.array([x[:4] for x in stats])
            r1s = [x[4] for x in stats if len(x) > 4]
            el = time.time() - t0
            log(f"it {it} kimg {nimg / 1000:.2f} lossG {s[:, 0].mean():.3f} lossD {s[:, 1].mean():.3f} "
                f"Dreal {s[:, 2].mean():+.2f} Dfake {s[:, 3].mean():+.2f} r1 {np.mean(r1s) if r1s else 0:.3f} "
                f"sec/it {el / run_iters:.2f}", logf)
            stats = []
        if time.time() - t_last_snap > args.snap_min * 60:
            snapshot()
            t_last_snap = time.time()
        if args.max_iters and run_iters >= args.max_iters:
            break
    snapshot()
    log(f"stopped at it {it}, {nimg / 1000:.1f} kimg", logf)


if __name__ == "__main__":
    main()
