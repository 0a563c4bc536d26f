"""Does channels-last pay with instance norm? G1's forward and backward timed with four layouts of its activations.

    python benchmarks/norm_layout.py --out benchmarks/results_norm_layout.jsonl              # CPU, 512×256, 5 rounds
    python benchmarks/norm_layout.py --device cuda --size 1024 512 --ngf 64                   # on a GPU

`nn.InstanceNorm2d` returns a contiguous (NCHW) tensor whatever layout it is given, so under `--channels_last` every
norm layer hands the next convolution NCHW again and the convolution converts it back. The candidates:

- `nchw`: the default layout, stock `nn.InstanceNorm2d`.
- `cl, stock IN`: channels-last weights and input (what `--channels_last` does today).
- `cl, var_mean IN`: an instance norm that keeps the layout: `torch.var_mean` over H, W in float32, then `(x-mean)*rsqrt`.
- `cl, group_norm IN`: `F.group_norm` with one group per channel (the same normalisation; its kernels keep channels-last).

Each is checked against `nchw` in fp32 (largest difference of G's output printed), then forward+backward is timed under
bf16 autocast (CPU and CUDA) interleaved over the rounds; the table gives the median, range and the speed against
`nchw` in the same round. Only a candidate that is faster here would be worth a place in the library.
"""
import argparse, json, statistics, time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class VarMeanInstanceNorm(nn.InstanceNorm2d):
    "Instance norm (no affine) that returns the layout it is given: statistics in float32 with `torch.var_mean`."
    def forward(self, x):
        var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, unbiased=False)
        return ((x.float() - mean) * torch.rsqrt(var + self.eps)).to(x.dtype)


class GroupNormInstanceNorm(nn.InstanceNorm2d):
    "Instance norm (no affine) as `F.group_norm` with one group per channel."
    def forward(self, x): return F.group_norm(x, x.shape[1], eps=self.eps)


def build(norm_class, ngf: int, label_nc: int, device):
    "G1 (notebook 05) with every InstanceNorm2d replaced by `norm_class` (same state dict: no parameters)."
    from pix2pixhd.generator import GlobalGenerator
    torch.manual_seed(0)
    g = GlobalGenerator(label_nc, 3, ngf=ngf, n_downsampling=4, n_blocks=9)
    for m in list(g.modules()):
        for name, c in list(m.named_children()):
            if type(c) is nn.InstanceNorm2d: setattr(m, name, norm_class(c.num_features, eps=c.eps))
    return g.to(device)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--size', type=int, nargs=2, default=(512, 256), metavar=('W', 'H'))
    p.add_argument('--ngf', type=int, default=32)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--out', default=None)
    a = p.parse_args()
    dev, cl, label_nc = torch.device(a.device), torch.channels_last, 36
    x = torch.randn(1, label_nc, a.size[1], a.size[0], device=dev)
    cases = {'nchw': (build(nn.InstanceNorm2d, a.ngf, label_nc, dev), x),
             'cl, stock IN': (build(nn.InstanceNorm2d, a.ngf, label_nc, dev).to(memory_format=cl), x.contiguous(memory_format=cl)),
             'cl, var_mean IN': (build(VarMeanInstanceNorm, a.ngf, label_nc, dev).to(memory_format=cl), x.contiguous(memory_format=cl)),
             'cl, group_norm IN': (build(GroupNormInstanceNorm, a.ngf, label_nc, dev).to(memory_format=cl), x.contiguous(memory_format=cl))}
    with torch.no_grad(): outs = {k: g(i) for k, (g, i) in cases.items()}
    diff = {k: (v - outs['nchw']).abs().max().item() for k, v in outs.items()}

    def step(g, i):
        with torch.autocast(dev.type, torch.bfloat16): y = g(i)
        y.float().square().mean().backward()
        if dev.type == 'cuda': torch.cuda.synchronize()
    for g, i in cases.values(): step(g, i)                      # warm-up
    times = {k: [] for k in cases}
    for _ in range(a.rounds):
        for k, (g, i) in cases.items():
            t = time.perf_counter(); step(g, i); times[k].append(time.perf_counter() - t)
    rows = []
    for k, v in times.items():
        ratio = [b / t for b, t in zip(times['nchw'], v)]
        rows.append(dict(layout=k, s=statistics.median(v), lo=min(v), hi=max(v), speed_vs_nchw=statistics.median(ratio),
                         speed_lo=min(ratio), speed_hi=max(ratio), fp32_max_diff=diff[k], rounds=a.rounds, device=str(dev),
                         size=list(a.size), ngf=a.ngf, threads=torch.get_num_threads(), torch=torch.__version__))
    print(f"G1 ngf {a.ngf} at {a.size[0]}x{a.size[1]}, forward+backward under bf16 autocast on {dev}, {a.rounds} rounds")
    for r in rows:
        print(f"{r['layout']:18} {r['s']:.4f} s [{r['lo']:.4f}-{r['hi']:.4f}]  {r['speed_vs_nchw']:.2f}x nchw "
              f"[{r['speed_lo']:.2f}-{r['speed_hi']:.2f}]  fp32 max |diff| {r['fp32_max_diff']:.1e}")
    if a.out: Path(a.out).write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return rows


if __name__ == '__main__':
    main()
