#!/usr/bin/env python3
"""The PyTorch twin of `vae`'s VAE training step, timed so that `vae bench --torch` can report a
ratio measured under the same machine load.

The MLP is the one configs/mnist.json trains: encoder 784-H...-(J mean, J log-variance) and
decoder J-...H-784 with ReLU hidden layers (or --activation); with --arch conv the one
configs/mnist-conv.json trains: stride-2 convolutions with TensorFlow's SAME padding
(--channels, --kernel), the dense layers, and the transposed convolutions back up to a bias per
output pixel (with --batch-norm, each hidden convolution and transpose without its bias, then
batch norm on the batch's moments, as model.batchNorm trains it). Both with a Bernoulli
likelihood on logits (or --likelihood logistic: the discretised logistic of
src/model/likelihoods/logistic.ts, the decoder giving a location and a log-scale per pixel),
the closed-form Gaussian KL (docs/maths.md), and the loss summed over pixels and latent
dimensions and averaged over the batch; with --iw-samples k > 1 the IWAE bound L_k instead
(k samples per example, as configs/mnist-iwae.json trains); Adam with learning rate 1e-3.
Data: the MNIST training images scaled to [0, 1].

What is timed: whole optimisation steps (forward, backward, Adam) after a few warm-up steps,
with the device synchronised before the clock is read; with --epoch also one shuffled epoch.
It prints one JSON line on stdout: implementation, device, threads, batch, ms per step,
examples per second, the last loss and, with --epoch, seconds per epoch.

    python3 bench/torch_reference.py --device cpu --threads 2 --batch 128
    python3 bench/torch_reference.py --device cuda --batch 1024 --epoch

Needs torch and numpy, and a current PyTorch (2.x): `python3 -m venv .venv && .venv/bin/pip
install torch numpy`. An old build flatters vae: Debian's python3-torch 1.13 runs these CPU steps
about 16x slower than PyTorch 2.x on the same machine, so a ratio against it means little (the
script says so on stderr). `vae bench --torch` finds this file and a Python that imports torch by
itself, a current torch first ($VAE_PYTHON, ./.venv, ./venv, then the PATH's).
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Use a current PyTorch (2.x): python3 -m venv .venv && .venv/bin/pip install torch numpy. '
               'An old build such as Debian\'s python3-torch 1.13 runs these CPU steps about 16x slower '
               'than 2.x and flatters vae\'s ratios; the script warns on stderr when it runs on one.')
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch decides)')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--steps', type=int, default=50, help='timed steps')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps first')
    p.add_argument('--arch', default='mlp', choices=['mlp', 'conv'])
    p.add_argument('--channels', default='32,64', help='conv: channels of each stride-2 convolution')
    p.add_argument('--kernel', type=int, default=4, help='conv: kernel size')
    p.add_argument('--hidden', default='400', help='hidden widths, comma-separated (e.g. 512,256)')
    p.add_argument('--latent', type=int, default=20)
    p.add_argument('--activation', default='relu', choices=sorted(ACTIVATIONS), help='hidden layers\' activation')
    p.add_argument('--iw-samples', type=int, default=1, help='k > 1: train the IWAE bound L_k')
    p.add_argument('--likelihood', default='bernoulli', choices=['bernoulli', 'logistic'], help='log p(x|z): Bernoulli on logits, or the discretised logistic (8-bit bins)')
    p.add_argument('--batch-norm', action='store_true', help='conv: batch norm after each hidden convolution and transpose')
    p.add_argument('--epoch', action='store_true', help='also time one full shuffled epoch')
    p.add_argument('--images', required=True, help='MNIST training images (IDX file)')
    return p.parse_args()


def read_idx_images(path):
    raw = np.fromfile(path, dtype=np.uint8)
    n, h, w = (int.from_bytes(raw[i:i + 4].tobytes(), 'big') for i in (4, 8, 12))
    return raw[16:16 + n * h * w].reshape(n, h * w).astype(np.float32) / 255.0, (h, w)


# vae's activations (leaky_relu with slope 0.2)
ACTIVATIONS = {'relu': nn.ReLU, 'tanh': nn.Tanh, 'elu': nn.ELU, 'leaky_relu': lambda: nn.LeakyReLU(0.2)}


def mlp(sizes, activation):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MlpVae(nn.Module):
    def __init__(self, d, hidden, j, activation, outputs_per_pixel=1):
        super().__init__()
        self.j = j
        self.encoder = mlp([d, *hidden, 2 * j], activation)
        self.decoder = mlp([j, *reversed(hidden), outputs_per_pixel * d], activation)

    def encode(self, x):
        return self.encoder(x).split(self.j, dim=1)


def same_padding(n, k, s=2):
    """TensorFlow's SAME padding of one axis: (outputs, zeros before, zeros after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


class ConvVae(nn.Module):
    def __init__(self, hw, channels, k, hidden, j, activation, outputs_per_pixel=1, batch_norm=False):
        super().__init__()
        self.j, self.k, self.hw = j, k, hw
        sizes = [hw]
        for _ in channels:
            sizes.append(tuple(same_padding(n, k)[0] for n in sizes[-1]))
        self.sizes = sizes
        act = ACTIVATIONS[activation]
        down = []
        for i, c in enumerate(channels):
            (_, bh, ah), (_, bw, aw) = (same_padding(n, k) for n in sizes[i])
            conv = nn.Conv2d(1 if i == 0 else channels[i - 1], c, k, stride=2, bias=not batch_norm)
            down += [nn.ZeroPad2d((bw, aw, bh, ah)), conv, *([nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)] if batch_norm else []), act()]
        flat = sizes[-1][0] * sizes[-1][1] * channels[-1]
        self.encoder = nn.Sequential(*down, nn.Flatten(), mlp([flat, *hidden, 2 * j], activation))
        self.project = nn.Sequential(mlp([j, *reversed(hidden), flat], activation), act())
        self.channels = channels
        self.up = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(len(channels) - 1, -1, -1):
            cout = outputs_per_pixel if i == 0 else channels[i - 1]
            self.up.append(nn.ConvTranspose2d(channels[i], cout, k, stride=2, bias=i > 0 and not batch_norm))
            self.norms.append(nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1) if batch_norm and i > 0 else nn.Identity())
        self.act = act()
        self.out_bias = nn.Parameter(torch.zeros(outputs_per_pixel * hw[0] * hw[1]))

    def encode(self, x):
        return self.encoder(x.reshape(-1, 1, *self.hw)).split(self.j, dim=1)

    def decoder(self, z):
        h0, w0 = self.sizes[-1]
        h = self.project(z).reshape(-1, self.channels[-1], h0, w0)
        for n, layer in enumerate(self.up):
            i = len(self.channels) - 1 - n
            # the transpose of the SAME convolution from sizes[i]: crop its padding
            H, W = self.sizes[i]
            bh, bw = same_padding(H, self.k)[1], same_padding(W, self.k)[1]
            h = layer(h)[:, :, bh:bh + H, bw:bw + W]
            if i > 0:
                h = self.act(self.norms[n](h))
        # one channel group per output per pixel, each flattened as vae flattens an image
        return h.reshape(h.shape[0], -1) + self.out_bias


HALF_BIN = 0.5 / 255
MIN_LOG_SCALE = -7.0
WIDE_BIN = 1e-5


def logistic_log_px(x, out):
    """The discretised logistic's log p(x|z) per pixel (vae's logistic.logProb, term for term)."""
    loc, raw = out.chunk(2, dim=-1)
    log_scale = torch.clamp(raw, min=MIN_LOG_SCALE)
    inv_s = torch.exp(-log_scale)
    centred = x - loc
    plus_in = inv_s * (centred + HALF_BIN)
    min_in = inv_s * (centred - HALF_BIN)
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus_cdf_min = -F.softplus(min_in)
    cdf_delta = torch.sigmoid(plus_in) * torch.sigmoid(-min_in) * -torch.expm1(inv_s * (-2 * HALF_BIN))
    mid_in = inv_s * centred
    log_pdf_mid = mid_in - log_scale - 2 * F.softplus(mid_in)
    log_mid = torch.where(cdf_delta > WIDE_BIN, torch.log(torch.clamp(cdf_delta, min=1e-12)), log_pdf_mid - math.log(255))
    return torch.where(x < HALF_BIN, log_cdf_plus, torch.where(x > 1 - HALF_BIN, log_one_minus_cdf_min, log_mid))


def log_px(likelihood, x, out):
    """log p(x|z) summed over the pixels (the last axis)."""
    if likelihood == 'logistic':
        return logistic_log_px(x, out).sum(-1)
    return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction='none').sum(-1)


def elbo_loss(model, x, likelihood):
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    out = model.decoder(z)
    # (the Bernoulli as one fused sum, as PyTorch's VAE example writes it)
    recon = F.binary_cross_entropy_with_logits(out, x, reduction='sum') if likelihood == 'bernoulli' else -log_px(likelihood, x, out).sum()
    kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp())
    return (recon + kl) / x.shape[0]


def iwae_loss(model, x, k, likelihood):
    """-L_k averaged over the batch: log w = log p(x|z) + log p(z) - log q(z|x), z ~ q, k per example."""
    mu, logvar = model.encode(x)
    eps = torch.randn((k, *mu.shape), device=x.device)
    z = mu + eps * torch.exp(0.5 * logvar)
    out = model.decoder(z.reshape(-1, model.j)).reshape(k, x.shape[0], -1)
    lp = log_px(likelihood, x, out)
    # log p(z) - log q(z|x); the 2 pi terms cancel
    log_ratio = (-0.5 * z * z + 0.5 * eps * eps + 0.5 * logvar).sum(-1)
    bound = torch.logsumexp(lp + log_ratio, 0) - math.log(k)
    return -bound.mean()


def main():
    a = parse_args()
    if int(torch.__version__.split('.')[0]) < 2:
        short = '.'.join(torch.__version__.split('+')[0].split('.')[:2])
        print(f'PyTorch {short} is an old build; its times flatter us (install a current one: '
              'python3 -m venv .venv && .venv/bin/pip install torch numpy)', file=sys.stderr)
    if a.threads:
        torch.set_num_threads(a.threads)
    images, hw = read_idx_images(a.images)
    x_all = torch.from_numpy(images).to(a.device)
    n, d = x_all.shape
    b = a.batch
    hidden = [int(h) for h in a.hidden.split(',') if h]
    outputs = 2 if a.likelihood == 'logistic' else 1
    if a.arch == 'conv':
        channels = [int(c) for c in a.channels.split(',') if c]
        model = ConvVae(hw, channels, a.kernel, hidden, a.latent, a.activation, outputs, a.batch_norm).to(a.device)
    else:
        if a.batch_norm:
            sys.exit('--batch-norm is for --arch conv (vae normalises convolutions only)')
        model = MlpVae(d, hidden, a.latent, a.activation, outputs).to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        loss = elbo_loss(model, x, a.likelihood) if a.iw_samples == 1 else iwae_loss(model, x, a.iw_samples, a.likelihood)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def sync():
        if x_all.is_cuda:
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step(x_all[:b])
    sync()
    t0 = time.perf_counter()
    for s in range(a.steps):
        start = (s * b) % (n - b)
        loss = step(x_all[start:start + b])
    sync()
    ms = (time.perf_counter() - t0) * 1000 / a.steps
    out = {
        'impl': 'pytorch ' + torch.__version__,
        'device': a.device,
        'threads': torch.get_num_threads(),
        'arch': a.arch,
        'batch': b,
        'iw_samples': a.iw_samples,
        'likelihood': a.likelihood,
        'batch_norm': a.batch_norm,
        'ms_per_step': round(ms, 3),
        'examples_per_s': round(b * 1000 / ms),
        'loss': round(float(loss), 2),
    }
    if a.epoch:
        order = torch.randperm(n, device=a.device)
        t0 = time.perf_counter()
        for i in range(0, n - b + 1, b):
            step(x_all[order[i:i + b]])
        sync()
        out['epoch_s'] = round(time.perf_counter() - t0, 3)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
