"""Time, peak memory and FLOP rate of one pix2pixHD training iteration (and one inference), per configuration and setting.

    python benchmarks/train_step.py                                 # all configs, every setting, this device
    python benchmarks/train_step.py --configs toy paper512 --settings ref fp32 bf16+ckpt --rounds 3
    python benchmarks/train_step.py --device cuda --out results.jsonl
    PIX2PIXHD_REF=~/src/pix2pixHD python benchmarks/train_step.py --configs paper512 --rounds 3   # beside the official code

Each (config, setting) runs in a fresh process, so its peak memory is its own: `torch.cuda.max_memory_allocated`
on a GPU, the process's peak resident set size (ru_maxrss) on the CPU. Everything is compared within one run: the
settings are interleaved over `--rounds` (every setting of a round before the next round), `ref` (the reference's
iteration with this library's networks, fp32) is the baseline of each config, and each round first measures this
machine's peak rate (a large matmul and a 3×3 convolution, fp32 and bf16) so that each setting's achieved FLOP rate
(FLOPs of one iteration counted by `torch.utils.flop_counter`) is also a fraction of what this device reaches.
Labels, instance maps and photos are random tensors of the right shapes (the cost of every layer does not depend on
the content); the VGG loss uses random weights (same cost as ImageNet's, and nothing to download).

With `PIX2PIXHD_REF` set to a checkout of the official code (github.com/NVIDIA/pix2pixHD), the setting `official`
times its own networks (`models/networks.py`: `define_G`, `define_D` with intermediate features, `GANLoss`), imported
from that checkout, in its own iteration (`pix2pixHD_model.forward` and `train.py`: D on the detached fake and the
real pair, G's GAN, feature-matching and VGG terms in one backward, then D's), fp32; it joins every round and is the
baseline of the ratios. Its VGG term is this library's random-weight VGG19 used as the official `VGGLoss` uses its own
(both images through it, inside autocast if any; the real image's features detached), since that class downloads
ImageNet weights and calls `.cuda()`.
"""
import argparse, contextlib, importlib.util, io, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path

CONFIGS = {
    'toy': dict(label_nc=8, loadSize=256, netG='global', ngf=32, n_downsample_global=3, n_blocks_global=6, num_D=2,
                no_vgg_loss=True),
    'paper512': dict(label_nc=35, loadSize=1024, netG='global', ngf=64, n_downsample_global=4, n_blocks_global=9,
                     num_D=2, no_vgg_loss=False, vgg_weights='random'),
    'paper1024hd': dict(label_nc=35, loadSize=2048, netG='local', ngf=32, n_downsample_global=4, n_blocks_global=9,
                        n_local_enhancers=1, n_blocks_local=3, num_D=3, no_vgg_loss=False, vgg_weights='random'),
}
SETTINGS = ['ref', 'fp32', 'fp32+ckpt', 'bf16', 'bf16+ckpt']
CUDA_SETTINGS = ['ref', 'fp32', 'fp32+ckpt', 'bf16', 'bf16+ckpt', 'fp16', 'fp16+ckpt']


def parse_setting(s):
    if s == 'official': return dict(precision='fp32', checkpoint_activations=False, channels_last=False, compile=False, official=True)
    if s == 'ref': return dict(precision='fp32', checkpoint_activations=False, channels_last=False, compile=False, ref=True)
    parts = s.split('+')
    return dict(precision=parts[0], checkpoint_activations='ckpt' in parts, channels_last='cl' in parts,
                compile='compile' in parts)


def peak_rates(device, threads):
    "This device's GFLOP/s for a 2048² matmul and a 3×3 convolution (256 channels, 4×64×64), fp32 and bf16: the fastest of 5."
    import torch
    torch.set_num_threads(threads)
    dev, out = torch.device(device), {}
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    for dtype in ('fp32', 'bf16'):
        dt = torch.float32 if dtype == 'fp32' else torch.bfloat16
        a, b = torch.randn(2048, 2048, device=dev, dtype=dt), torch.randn(2048, 2048, device=dev, dtype=dt)
        x, w = torch.randn(4, 256, 64, 64, device=dev, dtype=dt), torch.randn(256, 256, 3, 3, device=dev, dtype=dt)
        for name, f, flop in (('matmul', lambda a=a, b=b: a @ b, 2 * 2048**3),
                              ('conv3x3', lambda x=x, w=w: torch.nn.functional.conv2d(x, w, padding=1), 2 * 4 * 64 * 64 * 256 * 256 * 9)):
            f(); ts = []
            for _ in range(5):
                sync(); t = time.perf_counter(); f(); sync(); ts.append(time.perf_counter() - t)
            out[f'{name}_{dtype}_gflops'] = flop / min(ts) / 1e9
    return dict(config='peak', device=device, threads=threads, **out, torch=torch.__version__)


def official_networks():
    "The official pix2pixHD's models/networks.py, imported by path from the checkout PIX2PIXHD_REF names."
    ref = os.environ.get('PIX2PIXHD_REF')
    path = Path(ref or '.').expanduser() / 'models' / 'networks.py'
    if not ref or not path.is_file():
        raise SystemExit(f"setting 'official' needs PIX2PIXHD_REF set to a checkout of github.com/NVIDIA/pix2pixHD "
                         f"(PIX2PIXHD_REF={ref!r}: {path} not found)")
    spec = importlib.util.spec_from_file_location('official_networks', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_iteration(opt, dev):
    "(model-like holder, step function) of the official code's networks and iteration for `opt`, on `dev`, fp32."
    import torch, torch.nn.functional as F
    from pix2pixhd.data import one_hot
    from pix2pixhd.instance import instance_edges
    from pix2pixhd.losses import VGG19Features, VGG_LOSS_WEIGHTS
    net = official_networks()
    with contextlib.redirect_stdout(io.StringIO()):       # define_G / define_D print the whole network
        G = net.define_G(opt.label_nc + 1, 3, opt.ngf, opt.netG, opt.n_downsample_global, opt.n_blocks_global,
                         opt.n_local_enhancers, opt.n_blocks_local, opt.norm).to(dev)
        D = net.define_D(opt.label_nc + 1 + 3, opt.ndf, opt.n_layers_D, opt.norm, False, opt.num_D, True).to(dev)
    gan = net.GANLoss(use_lsgan=True, tensor=lambda size: torch.empty(size, device=dev))
    vgg = VGG19Features(None, None, False).to(dev) if not opt.no_vgg_loss else None
    optG = torch.optim.Adam(G.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    feat_w, d_w = 4.0 / (opt.n_layers_D + 1), 1.0 / opt.num_D

    def step(batch):
        cond = torch.cat([one_hot(batch['label'].to(dev).long(), opt.label_nc), instance_edges(batch['inst'].to(dev))], 1)
        real = batch['image'].to(dev)
        fake = G(cond)
        loss_D_fake = gan(D(torch.cat([cond, fake.detach()], 1)), False)
        pred_real = D(torch.cat([cond, real.detach()], 1))
        loss_D_real = gan(pred_real, True)
        pred_fake = D(torch.cat([cond, fake], 1))
        loss_G = gan(pred_fake, True) + sum(d_w * feat_w * opt.lambda_feat * F.l1_loss(pred_fake[i][j], pred_real[i][j].detach())
                                            for i in range(opt.num_D) for j in range(len(pred_fake[i]) - 1))
        if vgg is not None:
            loss_G = loss_G + opt.lambda_feat * sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(VGG_LOSS_WEIGHTS, vgg(fake), vgg(real)))
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        optG.zero_grad(); loss_G.backward(); optG.step()
        optD.zero_grad(); loss_D.backward(); optD.step()

    def infer(label, inst):
        with torch.no_grad(): return G(torch.cat([one_hot(label.to(dev).long(), opt.label_nc), instance_edges(inst.to(dev))], 1))
    return step, infer


def child(config, setting, device, steps, warmup, threads, count_flops=False):
    import torch
    from pix2pixhd.model import get_options, Pix2PixHD, train_step, reference_train_step
    from pix2pixhd.train import autocast_for
    torch.set_num_threads(threads)
    dev = torch.device(device)
    s = parse_setting(setting)
    opt = get_options(None, **CONFIGS[config], precision=s['precision'], checkpoint_activations=s['checkpoint_activations'],
                      channels_last=s['channels_last'], compile=s['compile'])
    torch.manual_seed(0)
    if s.get('official'): return official_child(config, setting, opt, dev, steps, warmup, threads, count_flops)
    model = Pix2PixHD(opt).to(dev)
    if opt.channels_last: model.to(memory_format=torch.channels_last)
    G, D = model.netG, model.netD
    if opt.compile: model._runners = {'G': torch.compile(G), 'D': torch.compile(D)}
    if opt.compile: model._runners['D_frozen'] = model._runners['D']      # as the trainer does: G's pass through D compiled
    optG = torch.optim.Adam(G.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    scaler = torch.amp.GradScaler(dev.type) if opt.precision == 'fp16' else None
    H, W = opt.loadSize // 2, opt.loadSize
    g = torch.Generator().manual_seed(0)
    batch = {'label': torch.randint(0, opt.label_nc, (1, H, W), generator=g, dtype=torch.uint8),   # as the trainer's loader
             'inst': torch.randint(0, 50, (1, H, W), generator=g, dtype=torch.int32),               # delivers them (compact_maps)
             'image': torch.rand(1, 3, H, W, generator=g) * 2 - 1}
    if dev.type == 'cuda': batch = {k: v.pin_memory() for k, v in batch.items()}   # pinned, as its batches: an asynchronous copy
    autocast = autocast_for(opt.precision, dev)
    step = reference_train_step if s.get('ref') else train_step

    def infer():
        model.eval()
        with torch.no_grad(), autocast_for(opt.precision, dev): model.synthesize(batch['label'], batch['inst'])
    return measure(lambda: step(model, batch, optG, optD, scaler, autocast), infer, config, setting, dev, steps, warmup,
                   threads, count_flops)


def _timed(f, sync, n):
    times = []
    for _ in range(n):
        sync(); t = time.perf_counter(); f(); sync(); times.append(time.perf_counter() - t)
    return times


def measure(step, infer, config, setting, dev, steps, warmup, threads, count_flops):
    "The result dict of one (config, setting): `step()` timed (`warmup` + `steps` times), peak memory, FLOPs of one more step, `infer()` timed twice."
    import torch
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    times = _timed(step, sync, warmup + steps)
    train_peak = (torch.cuda.max_memory_allocated(dev) if dev.type == 'cuda'
                  else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    tflop = None
    if count_flops:                                     # one more iteration, counted, after the timed ones
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as fc: step()
        tflop = fc.get_total_flops() / 1e12
    inf = _timed(infer, sync, 2)
    return dict(config=config, setting=setting, device=str(dev), threads=threads, step_s=min(times[warmup:]), tflop=tflop,
                step_s_all=[round(x, 3) for x in times], peak_gib=train_peak / 2**30, infer_s=min(inf), torch=torch.__version__)


def official_child(config, setting, opt, dev, steps, warmup, threads, count_flops):
    "`child` for the official code's networks and iteration."
    import torch
    step, infer = official_iteration(opt, dev)
    H, W = opt.loadSize // 2, opt.loadSize
    g = torch.Generator().manual_seed(0)
    batch = {'label': torch.randint(0, opt.label_nc, (1, H, W), generator=g), 'inst': torch.randint(0, 50, (1, H, W), generator=g),
             'image': torch.rand(1, 3, H, W, generator=g) * 2 - 1}            # as its loader gives them: int64 maps, pageable
    return measure(lambda: step(batch), lambda: infer(batch['label'], batch['inst']), config, setting, dev, steps, warmup,
                   threads, count_flops)


SETTING_NAMES = {'ref': 'reference iteration, here (fp32)', 'official': 'official code (its networks and iteration, fp32)'}
README = Path(__file__).with_name('README.md')


def _median(xs):
    return statistics.median(xs) if xs else float('nan')


def summarize(results) -> list[dict]:
    "One row per (config, setting): median s/iteration over rounds with its range, the ratio to the baseline (`official` if timed, else `ref`) in the same rounds, FLOP rates."
    peaks = [r for r in results if r['config'] == 'peak']
    peak = {k: _median([p[k] for p in peaks]) for k in (peaks[0] if peaks else {}) if k.endswith('_gflops')}
    rows = []
    for c in dict.fromkeys(r['config'] for r in results if r['config'] != 'peak'):
        runs = [r for r in results if r['config'] == c]
        base = 'official' if any(r['setting'] == 'official' for r in runs) else 'ref'
        ref = {r['round']: r['step_s'] for r in runs if r['setting'] == base}
        for s in dict.fromkeys(r['setting'] for r in runs):
            mine = [r for r in runs if r['setting'] == s]
            step = [r['step_s'] for r in mine]
            tflop = next((r['tflop'] for r in mine if r.get('tflop')), None)
            speed = [ref[r['round']] / r['step_s'] for r in mine if r['round'] in ref]
            prec = 'bf16' if s.startswith(('bf16', 'fp16')) else 'fp32'
            achieved = tflop * 1e3 / _median(step) if tflop else None
            rows.append(dict(config=c, setting=s, step_s=_median(step), step_lo=min(step), step_hi=max(step), rounds=len(step),
                             speedup=_median(speed) if speed else None, speed_lo=min(speed, default=None), speed_hi=max(speed, default=None),
                             peak_gib=_median([r['peak_gib'] for r in mine]), infer_s=_median([r['infer_s'] for r in mine]),
                             tflop=tflop, gflops=achieved, peak_frac=achieved / peak[f'matmul_{prec}_gflops'] if achieved and peak else None,
                             device=mine[0]['device']))
    return rows


def results_table(results) -> str:
    "A markdown table of results (dicts from `child` and `peak_rates`): medians over rounds, ratios to `ref` of the same rounds."
    peaks = [r for r in results if r['config'] == 'peak']
    out = []
    if peaks:
        p = {k: _median([x[k] for x in peaks]) for k in peaks[0] if k.endswith('_gflops')}
        out.append("This device's peak, measured in the same run: matmul " + ', '.join(
            f"{p[f'matmul_{d}_gflops']:.0f} ({d})" for d in ('fp32', 'bf16')) + " GFLOP/s; 3×3 convolution " + ', '.join(
            f"{p[f'conv3x3_{d}_gflops']:.0f} ({d})" for d in ('fp32', 'bf16')) + " GFLOP/s.\n")
    out += ['| config | setting | s / iteration: median [range] | vs baseline (`official` if timed, else `ref`), same rounds | peak memory (GiB) | TFLOP / iteration | GFLOP/s | of matmul peak | s / inference |',
            '|---|---|---|---|---|---|---|---|---|']
    for r in summarize(results):
        sp = f"{r['speedup']:.2f}× [{r['speed_lo']:.2f}–{r['speed_hi']:.2f}]" if r['speedup'] else '—'
        fl = (f"{r['tflop']:.3g} | {r['gflops']:.0f} | {r['peak_frac']:.0%}" if r['peak_frac'] is not None
              else (f"{r['tflop']:.3g} | {r['gflops']:.0f} | —" if r['tflop'] else '— | — | —'))
        out.append(f"| `{r['config']}` | {SETTING_NAMES.get(r['setting'], r['setting'])} | {r['step_s']:.3g} [{r['step_lo']:.3g}–{r['step_hi']:.3g}] "
                   f"({r['rounds']} rounds) | {sp} | {r['peak_gib']:.2f} | {fl} | {r['infer_s']:.3g} |")
    return '\n'.join(out)


def write_readme_table(results_file):
    "Replace the table between README.md's markers for `results_file` with one rendered from it."
    path = Path(results_file)
    if not path.exists(): path = Path(__file__).with_name(path.name)    # a results file next to this script
    name = path.name
    results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    start, end = f'<!-- table from {name}: written by `python benchmarks/train_step.py --table {name}` -->', '<!-- end of table -->'
    text = README.read_text()
    if start not in text: raise SystemExit(f"{README}: no marker line {start!r}")
    head, rest = text.split(start, 1)
    README.write_text(head + start + '\n' + results_table(results) + '\n' + end + rest.split(end, 1)[1])
    print(f"wrote the table of {len(results)} results from {results_file} into {README}")


def run_child(args: list[str]):
    "Run this script as a child; its RESULT dict, or the last line of its error."
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
    return (json.loads(line[7:]), None) if line else (None, (r.stderr.strip().splitlines() or ['?'])[-1][:150])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument('--settings', nargs='+', default=None,
                   help=f"'official' (the official code, needs PIX2PIXHD_REF), 'ref' (the reference's iteration, fp32) or "
                        f"precision[+ckpt][+cl][+compile]; default {SETTINGS} (CPU), with 'official' first when PIX2PIXHD_REF is set")
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=2, help="timed iterations per process (the fastest is its result)")
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--rounds', type=int, default=1, help="processes per (config, setting), interleaved; the table shows the median")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', default=None, help="append results as JSON lines to this file")
    p.add_argument('--table', metavar='RESULTS', default=None,
                   help="write the results table of RESULTS (JSON lines from --out) into benchmarks/README.md, and stop")
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    p.add_argument('--count_flops', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.table:
        write_readme_table(a.table); return
    if a.child:
        res = (peak_rates(a.device, a.threads) if a.child[0] == 'peak' else
               child(*a.child, a.device, a.steps, a.warmup, a.threads, a.count_flops))
        print('RESULT ' + json.dumps(res), flush=True); return
    settings = a.settings or ((['official'] if os.environ.get('PIX2PIXHD_REF') else []) +
                              (CUDA_SETTINGS if a.device.startswith('cuda') else SETTINGS))
    if 'official' in settings: official_networks()          # a missing checkout fails here, before any timing
    common = ['--device', a.device, '--steps', str(a.steps), '--warmup', str(a.warmup), '--threads', str(a.threads)]
    results, failed = [], []
    for rnd in range(a.rounds):
        jobs = [('peak', '-')] + [(c, s) for c in a.configs for s in settings]
        for c, s in jobs:
            res, err = run_child(['--child', c, s, *common, *(['--count_flops'] if rnd == 0 else [])])
            if res is None:
                print(f"round {rnd}: {c:12} {s:12} failed: {err}", flush=True); failed.append(f"{c} {s}"); continue
            res['round'] = rnd
            results.append(res)
            if c == 'peak': print(f"round {rnd}: peak GFLOP/s " + ', '.join(f"{k[:-7]} {v:.0f}" for k, v in res.items() if k.endswith('_gflops')), flush=True)
            else: print(f"round {rnd}: {c:12} {s:12} {res['step_s']:8.3f} s/iteration, {res['peak_gib']:.2f} GiB", flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(res) + '\n')
    print('\n' + results_table(results), flush=True)
    if failed: sys.exit(f"{len(failed)} of {a.rounds * len(jobs)} runs failed: {', '.join(failed)}")


if __name__ == '__main__':
    main()
