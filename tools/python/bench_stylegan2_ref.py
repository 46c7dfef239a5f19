"""Time the PyTorch StyleGAN2 reference (tools/python/stylegan2_ref.py, numerically the official generator) at a
given thread count, for comparison with qforge's native generator (bench/bm_generators, BM_stylegan2_*).

  /usr/bin/python3 tools/python/bench_stylegan2_ref.py [--config cifar|FILE.qf] [--batch 64] [--threads 1]
        [--reps 3] [--path fused|unfused|both]

cifar = the StyleGAN2-ADA CIFAR-10 generator shape (train.py cfg 'cifar', conditional, 512 channels at 4..32),
random weights. A .qf file = that generator (e.g. weights/fmnist_stylegan2.qf). One timed call = mapping +
synthesis of `batch` images (psi 1, noise const) under torch.no_grad(); 'fused' is the official inference path
(per-sample weights, grouped conv: what G(z, c) runs in eval mode), 'unfused' scales activations instead (shared
weights). Reports the median over reps of process CPU time (single thread) and wall time, as images/s.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stylegan2_ref as sg  # noqa: E402

CIFAR = dict(z_dim=512, c_dim=10, w_dim=512, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
             synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cifar")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--path", choices=("fused", "unfused", "both"), default="both")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.config == "cifar":
        G = sg.Generator(**CIFAR).eval()
        name = "cifar (random weights)"
    else:
        G, _ = sg.load_generator(a.config)
        name = a.config
    z = torch.from_numpy(np.random.RandomState(0).randn(a.batch, G.z_dim).astype(np.float32))
    c = torch.zeros(a.batch, G.c_dim)
    if G.c_dim:
        c[torch.arange(a.batch), torch.arange(a.batch) % G.c_dim] = 1
    paths = ("fused", "unfused") if a.path == "both" else (a.path,)
    print(f"torch {torch.__version__}, {a.threads} thread(s), {name}, batch {a.batch}")
    for p in paths:
        fused = p == "fused"
        with torch.no_grad():
            G(z[:2], c[:2], noise_mode="const", fused_modconv=fused)  # warm-up
            cpu, wall = [], []
            for _ in range(a.reps):
                t0, c0 = time.perf_counter(), time.process_time()
                G(z, c, noise_mode="const", fused_modconv=fused)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)
        mc, mw = statistics.median(cpu), statistics.median(wall)
        print(f"{p:8s} cpu {mc:.3f} s ({a.batch / mc:.2f} images/s cpu), wall {mw:.3f} s ({a.batch / mw:.2f} images/s)")


if __name__ == "__main__":
    main()
