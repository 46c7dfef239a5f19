"""Build a DiStyleGAN-architecture generator with random weights, export it to ONNX (opset 13), and write golden
outputs for qforge's `onnxgen:` source.

    /usr/bin/python3 tools/python/export_distylegan.py --out tests/data/distylegan --ngf 64 --project-dim 64
    /usr/bin/python3 tools/python/export_distylegan.py --out /tmp/distylegan_full      # full size, 2.05 M params

The architecture follows the DiStyleGAN generator described in /work/shared/reference/stylegan2-and-fractals.md
section 3 (written from the layer table there, not from its code):

    z [N, z_dim] -> Linear(z_dim -> 2*project_dim, no bias) -> BN1d -> GLU        -> [N, project_dim]
    concat(z_p, one-hot c)                                                          -> [N, project_dim + c_dim]
    -> Linear(-> 2*ngf*16, no bias) -> BN1d -> GLU -> view [N, ngf, 4, 4]
    3 x [nearest x2 upsample -> conv3x3 pad 1 (C -> C, no bias) -> BN2d -> GLU(dim=1)]   C: ngf -> ngf/8
    -> conv3x3 pad 1 (ngf/8 -> nc, no bias) -> tanh                                  -> [N, nc, 32, 32]

Defaults are the published ones (ngf 256, z_dim 512, c_dim 10, project_dim 128, nc 3: 2,054,368 parameters).
Weights: orthogonal init as in training (the last conv then scaled so pre-tanh values have std 0.8), BN gamma ~ N(1, 0.02), beta ~ N(0, 0.02) (beta is 0 at init in the
original; a small random beta makes the test exercise it), and random running statistics (mean ~ N(0, 0.1),
var ~ U(0.5, 1.5)) so that BN folding is tested with non-trivial values. Eval mode throughout.

Outputs in --out: distylegan.onnx (inputs "z" [N, z_dim] and "c" [N, c_dim] one-hot, output "img"
[N, nc, 32, 32]; dynamic batch), z.npy (float32 [8, z_dim], N(0,1)), labels.npy (int64 [8]), img.npy (float32
[8, nc, 32, 32], PyTorch's output for z and one-hot(labels)), and meta.json (sizes and parameter count).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class DiStyleGANGenerator(nn.Module):
    def __init__(self, ngf=256, z_dim=512, c_dim=10, project_dim=128, nc=3):
        super().__init__()
        assert ngf % 8 == 0
        self.ngf, self.z_dim, self.c_dim = ngf, z_dim, c_dim
        self.project = nn.Sequential(nn.Linear(z_dim, 2 * project_dim, bias=False), nn.BatchNorm1d(2 * project_dim))
        self.fc = nn.Sequential(nn.Linear(project_dim + c_dim, 2 * ngf * 16, bias=False),
                                nn.BatchNorm1d(2 * ngf * 16))
        blocks = []
        ch = ngf
        for _ in range(3):
            blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                        nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch)))
            ch //= 2
        self.upsample1, self.upsample2, self.upsample3 = blocks
        self.img = nn.Sequential(nn.Conv2d(ch, nc, 3, 1, 1, bias=False), nn.Tanh())

    def forward(self, z, c):
        x = F.glu(self.project(z), dim=1)
        x = torch.cat([x, c], dim=1)
        x = F.glu(self.fc(x), dim=1).view(-1, self.ngf, 4, 4)
        for blk in (self.upsample1, self.upsample2, self.upsample3):
            x = F.glu(blk(x), dim=1)
        return self.img(x)


def init_random(model, gen):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            w = m.weight.data.view(m.weight.shape[0], -1)
            nn.init.orthogonal_(w, generator=gen) if "generator" in nn.init.orthogonal_.__code__.co_varnames \
                else nn.init.orthogonal_(w)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 1 + 0.02 * torch.randn(n, generator=gen)
            m.bias.data = 0.02 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.1 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + torch.rand(n, generator=gen)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--ngf", type=int, default=256)
    ap.add_argument("--z-dim", type=int, default=512)
    ap.add_argument("--c-dim", type=int, default=10)
    ap.add_argument("--project-dim", type=int, default=128)
    ap.add_argument("--nc", type=int, default=3)
    ap.add_argument("--samples", type=int, default=8, help="golden samples")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    model = DiStyleGANGenerator(a.ngf, a.z_dim, a.c_dim, a.project_dim, a.nc)
    torch.manual_seed(a.seed)  # orthogonal_ without a generator argument uses the global RNG
    init_random(model, gen)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    # Random weights give a nearly flat image; scale the last conv so the pre-tanh activations have std 0.8 on
    # N(0,1) latents, and the test compares values spread over (-1, 1).
    with torch.no_grad():
        pre = []
        h = model.img[0].register_forward_hook(lambda mod, inp, out: pre.append(out))
        zc = torch.randn(64, a.z_dim, generator=gen)
        cc = torch.eye(a.c_dim)[torch.arange(64) % a.c_dim]
        model(zc, cc)
        h.remove()
        model.img[0].weight.mul_(0.8 / float(pre[0].std()))

    os.makedirs(a.out, exist_ok=True)
    rng = np.random.RandomState(a.seed + 1)
    z = rng.randn(a.samples, a.z_dim).astype(np.float32)
    labels = (np.arange(a.samples) % a.c_dim).astype(np.int64)
    c = np.eye(a.c_dim, dtype=np.float32)[labels]
    with torch.no_grad():
        img = model(torch.from_numpy(z), torch.from_numpy(c)).numpy()

    path = os.path.join(a.out, "distylegan.onnx")
    tmp = path + ".tmp"
    torch.onnx.export(model, (torch.from_numpy(z[:2]), torch.from_numpy(c[:2])), tmp, opset_version=13,
                      input_names=["z", "c"], output_names=["img"],
                      dynamic_axes={"z": {0: "N"}, "c": {0: "N"}, "img": {0: "N"}},
                      do_constant_folding=True)
    import onnx  # noqa: E402  (checked after export)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, path)
    np.save(os.path.join(a.out, "z.npy"), z)
    np.save(os.path.join(a.out, "labels.npy"), labels)
    np.save(os.path.join(a.out, "img.npy"), img.astype(np.float32))
    meta = {"ngf": a.ngf, "z_dim": a.z_dim, "c_dim": a.c_dim, "project_dim": a.project_dim, "nc": a.nc,
            "parameters": params, "seed": a.seed, "samples": a.samples,
            "ops": sorted({n.op_type for n in m.graph.node})}
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    size = os.path.getsize(path)
    print(f"{path}: {params} parameters, {size} bytes, ops {meta['ops']}; golden {img.shape} "
          f"range [{img.min():.3f}, {img.max():.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
