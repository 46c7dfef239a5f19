"""Write the StyleGAN2 golden files used by tests/test_stylegan2.cpp (tests/data/stylegan2/, a few hundred KB).

  /usr/bin/python3 tools/python/make_stylegan2_golden.py [--out tests/data/stylegan2]

Files:
  numpy_random.qf   numpy RandomState streams as I64 bit patterns of the float64 values (bit-exact check):
                    seed S in {0, 1, 42, 123456789, 4294967295}: randn(1300) ('randn.S') and random_sample(700)
                    ('sample.S'); RandomState([1, 2, 3]) / ([7]) random_sample(700) + randn(300) after it.
  tiny_{skip,resnet,orig}.qf   random-weight generators (res 16, 2 image channels, c_dim 3, odd channel counts,
                    non-zero biases / noise strengths / w_avg; resnet: conv_clamp 1.5; orig: 3-tap resample
                    filter [1,2,1] and 5x5 kernels); tiny_skip.qf goes through a pickle shaped like an official
                    network pickle and convert_stylegan2.py (the converter path is covered too).
  golden_{skip,resnet,orig}.qf z [4, z_dim], c [4, 3] one-hot, and the reference outputs (stylegan2_ref, eval):
                    ws.psi0.7 [4, num_ws, w_dim]; img.const.psi1, img.none.psi0.7, img.const.psi0.5.cut3 [4,2,16,16];
                    seeds: img.seed5 = images 0..3 of seed 5 with classes seed5.classes, z from
                    np.random.RandomState(5 + i).randn(1, z_dim) (generate.py --seeds 5-8), noise const, psi 1.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_stylegan2 as cv  # noqa: E402
import stylegan2_ref as sg  # noqa: E402


def f64_bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


def numpy_random_golden(path):
    t = {}
    for s in (0, 1, 42, 123456789, 4294967295):
        t[f"randn.{s}"] = f64_bits(np.random.RandomState(s).randn(1300))
        t[f"sample.{s}"] = f64_bits(np.random.RandomState(s).random_sample(700))
    for key in ([1, 2, 3], [7]):
        rs = np.random.RandomState(key)
        name = "array." + "_".join(map(str, key))
        t[name + ".sample"] = f64_bits(rs.random_sample(700))
        t[name + ".randn"] = f64_bits(rs.randn(300))
    sg.write_container(path, t, {"format": "qforge", "qforge.version": "1.0", "qforge.kind": "golden",
                                 "made_by": "tools/python/make_stylegan2_golden.py", "numpy": np.__version__})


def tiny_generator(arch, seed):
    torch.manual_seed(seed)
    extra = dict(resample_filter=[1, 2, 1], kernel_size=5) if arch == "orig" else {}
    G = sg.Generator(z_dim=12, c_dim=3, w_dim=20, img_resolution=16, img_channels=2,
                     mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=200, channel_max=20, architecture=arch,
                                           conv_clamp=(1.5 if arch == "resnet" else 256), **extra)).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.copy_(torch.randn([]) * 0.5)
            elif name.endswith("bias") and "affine" not in name:
                p.copy_(torch.randn_like(p) * 0.2)
            elif name.endswith("affine.bias"):
                p.add_(torch.randn_like(p) * 0.2)
        G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg) * 0.3)
    return G


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                                  "data", "stylegan2"))
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    numpy_random_golden(os.path.join(out, "numpy_random.qf"))
    for i, arch in enumerate(("skip", "resnet", "orig")):
        G = tiny_generator(arch, 10 + i)
        gpath = os.path.join(out, f"tiny_{arch}.qf")
        if arch == "skip":
            with tempfile.TemporaryDirectory() as d:
                pkl = os.path.join(d, "net.pkl")
                cv.make_fake_official_pickle(G, pkl)
                cv.convert(pkl, gpath)
        else:
            sg.save_generator(gpath, G, {"qforge.made_by": "tools/python/make_stylegan2_golden.py"})
        G2, _ = sg.load_generator(gpath)  # the reference reads back what C++ will read
        rng = np.random.RandomState(100 + i)
        z = rng.randn(4, 12).astype(np.float32)
        c = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
        zt, ct = torch.from_numpy(z), torch.from_numpy(c)
        t = {"z": z, "c": c}
        with torch.no_grad():
            t["ws.psi0.7"] = G2.mapping(zt, ct, truncation_psi=0.7).numpy()
            t["img.const.psi1"] = G2(zt, ct, noise_mode="const").numpy()
            t["img.none.psi0.7"] = G2(zt, ct, truncation_psi=0.7, noise_mode="none").numpy()
            t["img.const.psi0.5.cut3"] = G2(zt, ct, truncation_psi=0.5, truncation_cutoff=3, noise_mode="const").numpy()
            classes = np.array([2, 0, 1, 1], dtype=np.int64)
            zs = np.concatenate([np.random.RandomState(5 + k).randn(1, 12) for k in range(4)])
            t["seed5.classes"] = classes
            t["img.seed5"] = G2(torch.from_numpy(zs), torch.from_numpy(np.eye(3, dtype=np.float32)[classes]),
                                noise_mode="const").numpy()
        sg.write_container(os.path.join(out, f"golden_{arch}.qf"), t,
                           {"format": "qforge", "qforge.version": "1.0", "qforge.kind": "golden",
                            "made_by": "tools/python/make_stylegan2_golden.py", "torch": torch.__version__})
        print(f"{arch}: |img| max {np.abs(t['img.const.psi1']).max():.3f}, num_ws {G2.num_ws}")
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out} ({total} bytes)")


if __name__ == "__main__":
    main()
