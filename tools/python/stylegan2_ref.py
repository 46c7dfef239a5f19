"""qforge's own PyTorch StyleGAN2-ADA generator (and a small discriminator for training).

Written from the published description of StyleGAN2-ADA (Karras et al. 2020) so that module and parameter
names equal the official stylegan2-ada-pytorch state_dict names (mapping.fc0.weight, synthesis.b4.const,
synthesis.b8.conv0.affine.weight, ...). A state_dict from an official G / G_ema therefore loads into
`Generator(**init_kwargs)` here with `load_state_dict(strict=True)`, and the qforge C++ generator
(generators/stylegan2/) reads the same names from a qforge container.

Semantics (what the C++ port must reproduce; see /work/shared/reference/stylegan2-and-fractals.md, 1.x):
  * equalised learning rate: stored weights are raw; gains (lr_mul/sqrt(fan_in), bias * lr_mul) at run time;
  * lrelu(0.2) with gain sqrt(2), optional clamp (conv_clamp), both after the bias;
  * mapping: z 2nd-moment norm, class embedding (linear) + 2nd-moment norm, concat, fcK; w_avg tracked in
    training only; truncation lerp(w_avg, w, psi) for the first `cutoff` ws (all when cutoff is None);
  * synthesis: const input, modulated 3x3 convs with demodulation, the up=2 conv is a transposed stride-2
    conv (no flip) followed by the [1,3,3,1] FIR (pad 1, gain 4); ToRGB 1x1 modulated without demod,
    style gain 1/sqrt(C_in); noise 'const' | 'random' | 'none' scaled by noise_strength, added before bias;
    architectures 'skip' | 'resnet' | 'orig'.
All fp32 (num_fp16_res is accepted and ignored: the results equal the official code with force_fp32=True).

Also: a minimal writer/reader for the qforge tensor container (safetensors-compatible).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)

# ----------------------------------------------------------------------------------------------- basic ops


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


_ACT = {  # name -> (function, default gain)
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, SQRT2),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), SQRT2),
}


def bias_act(x, b=None, dim=1, act="linear", gain=None, clamp=None):
    """y = clamp(act(x + b) * gain, -clamp, clamp); b broadcast along `dim`."""
    fn, def_gain = _ACT[act]
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    x = fn(x)
    g = def_gain if gain is None else gain
    if g != 1:
        x = x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(f):
    """1-D taps -> normalised 2-D outer product (sum 1), float32."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    return f / f.sum()


def _pad4(padding):
    if isinstance(padding, int):
        return [padding] * 4
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    return list(padding)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Upsample (zero insertion), pad (negative = crop), FIR (true convolution unless flip_filter), downsample.
    padding = [x0, x1, y0, y1]. Output length per axis: (in*up + p0 + p1 - taps) // down + 1."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is not None:
        f = f.to(x.dtype) * (gain ** (f.ndim / 2))
        if not flip_filter:
            f = f.flip(list(range(f.ndim)))
        wgt = f[None, None].repeat(c, 1, 1, 1)
        x = F.conv2d(x, wgt, groups=c)
    elif gain != 1:
        x = x * gain
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x, f, up=2):
    taps = f.shape[-1]
    p0, p1 = (taps + up - 1) // 2, (taps - up) // 2
    return upfirdn2d(x, f, up=up, padding=[p0, p1, p0, p1], gain=up * up)


def downsample2d(x, f, down=2):
    taps = f.shape[-1]
    p0, p1 = (taps - down + 1) // 2, (taps - down) // 2
    return upfirdn2d(x, f, down=down, padding=[p0, p1, p0, p1])


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True):
    """conv of x with w (correlation if flip_weight else true convolution) combined with FIR up/down."""
    oc, icg, kh, kw = w.shape
    assert kh == kw
    k = kw
    if not flip_weight:
        w_corr = w.flip([2, 3])
    else:
        w_corr = w
    p = padding
    taps = f.shape[-1] if f is not None else 1
    if up > 1:
        assert down == 1
        p0 = p + (taps + up - 1) // 2
        p1 = p + (taps - up) // 2
        if k == 1:  # 1x1: convolve first, then upsample
            x = F.conv2d(x, w_corr, groups=groups)
            return upfirdn2d(x, f, up=up, padding=[p0, p1, p0, p1], gain=up * up)
        # transposed strided conv with the kernel not flipped relative to `w` as a true convolution
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, oc // groups, icg, k, k).transpose(1, 2).reshape(groups * icg, oc // groups, k, k)
        if flip_weight:  # conv_transpose applies a true convolution of w; correlation wants the flipped kernel
            wt = wt.flip([2, 3])
        x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
        q0, q1 = p0 - (k - 1), p1 - (k - up)
        return upfirdn2d(x, f, padding=[q0, q1, q0, q1], gain=up * up)
    if down > 1:
        p0 = p + (taps - down + 1) // 2
        p1 = p + (taps - down) // 2
        if k == 1:
            x = upfirdn2d(x, f, down=down, padding=[p0, p1, p0, p1])
            return F.conv2d(x, w_corr, groups=groups)
        x = upfirdn2d(x, f, padding=[p0, p1, p0, p1])
        return F.conv2d(x, w_corr, stride=down, groups=groups)
    return F.conv2d(x, w_corr, padding=p, groups=groups)


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True):
    n = x.shape[0]
    oc, ic, kh, kw = weight.shape
    wmod = None
    dcoefs = None
    if demodulate or fused_modconv:
        wmod = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    if not fused_modconv:
        x = x * styles.reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight, f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.reshape(n, -1, 1, 1)
        if noise is not None:
            x = x + noise
        return x
    if demodulate:
        wmod = wmod * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    wmod = wmod.reshape(-1, ic, kh, kw)
    x = conv2d_resample(x, wmod, f=resample_filter, up=up, padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


# ----------------------------------------------------------------------------------------------- layers


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="linear", up=1, down=1,
                 resample_filter=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = _ACT[activation][1]
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x, gain=1.0):
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                            flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class MappingNetwork(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None, layer_features=None,
                 activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        feats = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(feats[i], feats[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None, skip_w_avg_update=False):
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.w_avg_beta is not None and self.training and not skip_w_avg_update:
            with torch.no_grad():
                m = x.detach().mean(dim=0)
                self.w_avg.copy_(m + self.w_avg_beta * (self.w_avg - m))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg + truncation_psi * (x - self.w_avg)
            else:
                x = x.clone()
                head = x[:, :truncation_cutoff]
                x[:, :truncation_cutoff] = self.w_avg + truncation_psi * (head - self.w_avg)
        return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, use_noise=True,
                 activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None, channels_last=False):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = _ACT[activation][1]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1.0):
        assert noise_mode in ("random", "const", "none")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, architecture="skip",
                 resample_filter=(1, 3, 3, 1), conv_clamp=None, use_fp16=False, fp16_channels_last=False,
                 **layer_kwargs):
        super().__init__()
        assert architecture in ("orig", "skip", "resnet")
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, ws, fused_modconv=None, **layer_kwargs):
        wi = iter(ws.unbind(dim=1))
        if fused_modconv is None:
            fused_modconv = not self.training
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(wi), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(wi), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(wi), fused_modconv=fused_modconv, gain=math.sqrt(0.5), **layer_kwargs)
            x = y + x
        else:
            x = self.conv0(x, next(wi), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(wi), fused_modconv=fused_modconv, **layer_kwargs)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(wi), fused_modconv=fused_modconv)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=0,
                 **block_kwargs):
        super().__init__()
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for r in self.block_resolutions:
            cin = ch[r // 2] if r > 4 else 0
            blk = SynthesisBlock(cin, ch[r], w_dim=w_dim, resolution=r, img_channels=img_channels,
                                 is_last=(r == img_resolution), **block_kwargs)
            self.num_ws += blk.num_conv
            if r == img_resolution:
                self.num_ws += blk.num_torgb
            setattr(self, f"b{r}", blk)

    def forward(self, ws, **block_kwargs):
        ws = ws.to(torch.float32)
        idx = 0
        x = img = None
        for r in self.block_resolutions:
            blk = getattr(self, f"b{r}")
            cur = ws.narrow(1, idx, blk.num_conv + blk.num_torgb)
            idx += blk.num_conv
            x, img = blk(x, img, cur, **block_kwargs)
        return img


class Generator(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None,
                 synthesis_kwargs=None):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                                synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)


# ----------------------------------------------------------------------------------------------- discriminator
# Training only (not exported): residual blocks with FIR downsampling, minibatch-stddev, projection conditioning.


class MinibatchStd(nn.Module):
    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt().mean(dim=[1, 2, 3])  # [n/g]
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels, tmp_channels, out_channels, img_channels):
        super().__init__()
        self.in_channels = in_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu")
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu")
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x, img):
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class Discriminator(nn.Module):
    def __init__(self, c_dim, img_resolution, img_channels, channel_base=4096, channel_max=128, cmap_dim=None,
                 mapping_layers=2, mbstd_group_size=4):
        super().__init__()
        self.c_dim = c_dim
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        if cmap_dim is None:
            cmap_dim = ch[4]
        self.cmap_dim = cmap_dim if c_dim > 0 else 0
        for r in self.block_resolutions:
            cin = ch[r] if r < img_resolution else 0
            setattr(self, f"b{r}", DiscriminatorBlock(cin, ch[r], ch[r // 2], img_channels))
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=self.cmap_dim, num_ws=None, w_avg_beta=None,
                                          num_layers=mapping_layers)
        c4 = ch[4]
        self.mbstd = MinibatchStd(mbstd_group_size)
        self.conv = Conv2dLayer(c4 + 1, c4, 3, activation="lrelu")
        self.fc = FullyConnectedLayer(c4 * 16, c4, activation="lrelu")
        self.out = FullyConnectedLayer(c4, 1 if self.cmap_dim == 0 else self.cmap_dim)

    def forward(self, img, c):
        x = None
        for r in self.block_resolutions:
            x = getattr(self, f"b{r}")(x, img)
        x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim > 0:
            cmap = self.mapping(None, c)
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


# ----------------------------------------------------------------------------------------------- qforge container

_DTYPES = {np.dtype("float32"): "F32", np.dtype("int8"): "I8", np.dtype("uint8"): "U8",
           np.dtype("int32"): "I32", np.dtype("int64"): "I64", np.dtype("bool"): "BOOL"}
_DTYPES_INV = {v: k for k, v in _DTYPES.items()}


_MAPPING_DEFAULTS = dict(num_layers=8, embed_features=None, layer_features=None, activation="lrelu",
                         lr_multiplier=0.01, w_avg_beta=0.995)
_SYNTHESIS_DEFAULTS = dict(channel_base=32768, channel_max=512, num_fp16_res=0, conv_clamp=None, architecture="skip",
                           resample_filter=[1, 3, 3, 1], use_noise=True, activation="lrelu", kernel_size=3)


def normalize_config(kwargs):
    """Generator kwargs -> the same with every default filled in and unknown (speed-only) keys dropped:
    the JSON the C++ loader reads as "qforge.stylegan2.config"."""
    m = dict(_MAPPING_DEFAULTS)
    s = dict(_SYNTHESIS_DEFAULTS)
    for src, dst, what in ((kwargs.get("mapping_kwargs") or {}, m, "mapping_kwargs"),
                           (kwargs.get("synthesis_kwargs") or {}, s, "synthesis_kwargs")):
        for k, v in src.items():
            if k in dst:
                dst[k] = v
            elif k not in ("fp16_channels_last", "fused_modconv_default", "channels_last"):
                raise ValueError(f"{what}.{k}: unsupported generator option")
    w_dim = int(kwargs["w_dim"])
    if m["embed_features"] is None:
        m["embed_features"] = w_dim
    if m["layer_features"] is None:
        m["layer_features"] = w_dim
    s["resample_filter"] = [float(v) for v in s["resample_filter"]]
    return dict(z_dim=int(kwargs["z_dim"]), c_dim=int(kwargs["c_dim"]), w_dim=w_dim,
                img_resolution=int(kwargs["img_resolution"]), img_channels=int(kwargs["img_channels"]),
                mapping_kwargs=m, synthesis_kwargs=s)


def generator_config(G):
    return normalize_config(G.init_kwargs)


def write_container(path, tensors, metadata):
    """tensors: ordered dict name -> numpy array (written little-endian, in the given order).
    Layout: u64 LE header length, JSON header (padded with spaces so data starts at a multiple of 64), data."""
    import os
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, off = [], 0
    for name, arr in tensors.items():
        a = np.asarray(arr)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")  # (np.ascontiguousarray would turn 0-d scalars into shape [1])
        if a.dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    total = 8 + len(hj)
    hj += b" " * ((64 - total % 64) % 64)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_container(path):
    """-> (metadata dict, dict name -> numpy array)"""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        dt = _DTYPES_INV[e["dtype"]].newbyteorder("<")
        b0, b1 = e["data_offsets"]
        out[name] = np.frombuffer(raw[base + b0: base + b1], dtype=dt).reshape(e["shape"]).astype(dt.newbyteorder("="))
    return meta, out


def save_generator(path, G, extra_metadata=None):
    """Write G's state_dict (official names, float32) and its config to a qforge container."""
    sd = G.state_dict()
    tensors = {k: v.detach().cpu().to(torch.float32).numpy() for k, v in sd.items()}
    meta = {"format": "qforge", "qforge.version": "1.0", "qforge.kind": "stylegan2",
            "qforge.stylegan2.config": json.dumps(generator_config(G), sort_keys=True)}
    meta.update(extra_metadata or {})
    write_container(path, tensors, meta)


def load_generator(path):
    meta, tensors = read_container(path)
    if meta.get("qforge.kind") != "stylegan2":
        raise ValueError(f"{path}: not a stylegan2 container (qforge.kind={meta.get('qforge.kind')!r})")
    cfg = json.loads(meta["qforge.stylegan2.config"])
    G = Generator(**cfg)
    G.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    return G.eval(), cfg
