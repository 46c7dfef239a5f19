"""Five small CNN families for 28x28x1 Fashion-MNIST (the architectures of the GAN-calibration paper,
scaled down so each trains in minutes on 2 CPU cores).

All take a float input [N,1,28,28] normalised with fmnist.MEAN/STD and return logits [N,10].
All end in global average pooling + Linear, except VGG which flattens into a two-layer FC head.

  resnet        ResNet-20 style: 3 stages x 3 basic blocks, residual adds, BN, ReLU.
  vgg           plain Conv-BN-ReLU stacks with MaxPool, flatten -> Linear -> ReLU -> Linear.
  mobilenetv2   inverted residuals, depthwise 3x3, ReLU6, linear bottlenecks, residual adds.
  shufflenetv2  channel split, channel shuffle (view + transpose + reshape), concat.
  repvgg        trained multi-branch (3x3+BN, 1x1+BN, identity BN); `reparameterize()` turns it into
                single 3x3 convs with bias + ReLU (the deploy form that is exported).
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


def init_weights(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return model


# ---------------------------------------------------------------- ResNet-20 style
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            # projection shortcut (1x1 conv + BN), option B of the ResNet paper
            self.shortcut = conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(3, 3, 3), num_classes=NUM_CLASSES):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)
        # zero-init the last BN of each residual branch: blocks start as identity
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- VGG style
class VGG(nn.Module):
    # numbers are conv widths, 'M' is a 2x2 max pool: 28 -> 14 -> 7 -> 3
    def __init__(self, cfg=(32, 32, "M", 64, 64, "M", 128, "M"), hidden=256,
                 num_classes=NUM_CLASSES):
        super().__init__()
        layers, cin = [], 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, 1, 1, bias=False), nn.BatchNorm2d(v),
                           nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        side = 28
        for v in cfg:
            if v == "M":
                side //= 2
        self.fc1 = nn.Linear(cin * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        init_weights(self)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.fc2(F.relu(self.fc1(x)))


# ---------------------------------------------------------------- MobileNetV2 style
class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),  # depthwise
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout),  # linear bottleneck
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    # expansion 4 instead of 6 keeps CPU training time down (depthwise convs are slow in torch)
    # (expand t, out channels c, repeats n, first stride s); spatial 28 -> 14 -> 7
    def __init__(self, stem=16, cfg=((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 3, 2), (4, 64, 2, 1)),
                 last=256, num_classes=NUM_CLASSES):
        super().__init__()
        layers = [nn.Conv2d(1, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                  nn.ReLU6(inplace=True)]
        cin = stem
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last),
                   nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- ShuffleNetV2 style
def channel_shuffle(x, groups):
    """[N, g*k, H, W] -> view [N, g, k, H, W] -> transpose(1, 2) -> [N, k*g, H, W].

    C, H, W are taken as Python ints so the ONNX export gets constant Reshape shapes (batch stays -1)
    instead of a Shape/Gather/Unsqueeze/Concat chain; the exported graph is fixed at 28x28 anyway."""
    _, c, h, w = (int(v) for v in x.shape)
    x = x.reshape(-1, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.reshape(-1, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        branch = cout // 2
        self.branch = branch
        if stride == 1:
            assert cin == cout
            bin_ = branch
            self.branch1 = None
        else:
            bin_ = cin
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(
            nn.Conv2d(bin_, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch, branch, 3, stride, 1, groups=branch, bias=False),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            # channel split with static sizes -> one ONNX Split node
            x1, x2 = torch.split(x, [self.branch, self.branch], dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    # spatial 28 -> 14 -> 7
    def __init__(self, stem=24, widths=(64, 128), repeats=(4, 4), last=256,
                 num_classes=NUM_CLASSES):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU(inplace=True))
        units, cin = [], stem
        for w, n in zip(widths, repeats):
            for i in range(n):
                units.append(ShuffleUnit(cin, w, 2 if i == 0 else 1))
                cin = w
        self.stages = nn.Sequential(*units)
        self.last = nn.Sequential(nn.Conv2d(cin, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last),
                                  nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)

    def forward(self, x):
        x = self.last(self.stages(self.stem(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- RepVGG style
def _fuse_conv_bn(kernel, bn):
    """Return (kernel', bias') with conv(x, kernel') + bias' == bn(conv(x, kernel)) in eval mode."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.deploy = False
        self.rbr_dense = conv_bn(cin, cout, 3, stride)
        self.rbr_1x1 = conv_bn(cin, cout, 1, stride)
        self.rbr_identity = nn.BatchNorm2d(cin) if (cin == cout and stride == 1) else None
        self.rbr_reparam = None

    def forward(self, x):
        if self.deploy:
            return F.relu(self.rbr_reparam(x))
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return F.relu(out)

    @torch.no_grad()
    def equivalent_kernel_bias(self):
        k3, b3 = _fuse_conv_bn(self.rbr_dense[0].weight, self.rbr_dense[1])
        k1, b1 = _fuse_conv_bn(self.rbr_1x1[0].weight, self.rbr_1x1[1])
        kernel = k3 + F.pad(k1, [1, 1, 1, 1])  # 1x1 sits at the centre of the 3x3
        bias = b3 + b1
        if self.rbr_identity is not None:
            ident = torch.zeros(self.cin, self.cin, 3, 3, dtype=k3.dtype)
            for i in range(self.cin):
                ident[i, i, 1, 1] = 1.0
            ki, bi = _fuse_conv_bn(ident, self.rbr_identity)
            kernel = kernel + ki
            bias = bias + bi
        return kernel, bias

    @torch.no_grad()
    def switch_to_deploy(self):
        kernel, bias = self.equivalent_kernel_bias()
        conv = nn.Conv2d(self.cin, self.cout, 3, self.stride, 1, bias=True)
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
        self.rbr_reparam = conv
        self.rbr_dense = self.rbr_1x1 = self.rbr_identity = None
        self.deploy = True


class RepVGG(nn.Module):
    # (width, blocks); the first block of every stage but the first has stride 2: 28 -> 14 -> 7 -> 4
    def __init__(self, cfg=((16, 1), (32, 2), (64, 4), (128, 1)), num_classes=NUM_CLASSES):
        super().__init__()
        blocks, cin = [], 1
        for i, (w, n) in enumerate(cfg):
            for j in range(n):
                blocks.append(RepVGGBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.blocks(x), 1)
        return self.fc(torch.flatten(x, 1))


def reparameterize(model):
    """Deploy copy of a trained RepVGG: every block becomes one 3x3 conv (+bias) + ReLU."""
    deploy = copy.deepcopy(model).eval()
    for m in deploy.modules():
        if isinstance(m, RepVGGBlock):
            m.switch_to_deploy()
    return deploy


BUILDERS = {
    "resnet": ResNet,
    "vgg": VGG,
    "mobilenetv2": MobileNetV2,
    "shufflenetv2": ShuffleNetV2,
    "repvgg": RepVGG,
}
NAMES = list(BUILDERS)


def build(name):
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(NAMES)}")
    return BUILDERS[name]()


def deploy_form(name, model):
    """The module that gets exported: RepVGG is re-parameterised, the others are unchanged."""
    return reparameterize(model) if name == "repvgg" else model


def param_count(model):
    return sum(p.numel() for p in model.parameters())
