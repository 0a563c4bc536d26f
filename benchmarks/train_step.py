"""Time and peak memory of one pix2pixHD training iteration (and one inference), per configuration and setting.

    python benchmarks/train_step.py                                 # all configs, every setting, this device
    python benchmarks/train_step.py --configs toy paper512 --settings fp32 bf16+ckpt --steps 3
    python benchmarks/train_step.py --device cuda --out results.json

Each (config, setting) runs in a fresh process, so its peak memory is its own: `torch.cuda.max_memory_allocated`
on a GPU, the process's peak resident set size (ru_maxrss) on the CPU. Labels, instance maps and photos are random
tensors of the right shapes (the cost of every layer does not depend on the content); the VGG loss uses random
weights (same cost as ImageNet's, and nothing to download). Threads: `--threads` (default 2, as the reference
figures in the README were taken).
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path

CONFIGS = {
    'toy': dict(label_nc=8, loadSize=256, netG='global', ngf=32, n_downsample_global=3, n_blocks_global=6, num_D=2,
                no_vgg_loss=True),
    'paper512': dict(label_nc=35, loadSize=1024, netG='global', ngf=64, n_downsample_global=4, n_blocks_global=9,
                     num_D=2, no_vgg_loss=False, vgg_weights='random'),
    'paper1024hd': dict(label_nc=35, loadSize=2048, netG='local', ngf=32, n_downsample_global=4, n_blocks_global=9,
                        n_local_enhancers=1, n_blocks_local=3, num_D=3, no_vgg_loss=False, vgg_weights='random'),
}
# the reference implementation on a 2-thread CPU, fp32: seconds per training iteration, peak RSS GiB, seconds per inference
REFERENCE_CPU = {'toy': (0.42, 1.06, 0.060), 'paper512': (31.1, 7.5, 4.71), 'paper1024hd': (112.0, 18.1, 12.8)}
SETTINGS = ['ref', 'fp32', 'fp32+ckpt', 'bf16', 'bf16+ckpt']
CUDA_SETTINGS = ['ref', 'fp32', 'fp32+ckpt', 'bf16', 'bf16+ckpt', 'fp16', 'fp16+ckpt']


def parse_setting(s):
    if s == 'ref': return dict(precision='fp32', checkpoint_activations=False, channels_last=False, compile=False, ref=True)
    parts = s.split('+')
    return dict(precision=parts[0], checkpoint_activations='ckpt' in parts, channels_last='cl' in parts,
                compile='compile' in parts)


def child(config, setting, device, steps, warmup, threads):
    import torch
    from pix2pixhd.model import get_options, Pix2PixHD, train_step, reference_train_step
    from pix2pixhd.train import autocast_for
    torch.set_num_threads(threads)
    dev = torch.device(device)
    s = parse_setting(setting)
    opt = get_options(None, **CONFIGS[config], precision=s['precision'], checkpoint_activations=s['checkpoint_activations'],
                      channels_last=s['channels_last'], compile=s['compile'])
    torch.manual_seed(0)
    model = Pix2PixHD(opt).to(dev)
    if opt.channels_last: model.to(memory_format=torch.channels_last)
    G, D = model.netG, model.netD
    if opt.compile: model._runners = {'G': torch.compile(G), 'D': torch.compile(D)}
    optG = torch.optim.Adam(G.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    scaler = torch.amp.GradScaler(dev.type) if opt.precision == 'fp16' else None
    H, W = opt.loadSize // 2, opt.loadSize
    g = torch.Generator().manual_seed(0)
    batch = {'label': torch.randint(0, opt.label_nc, (1, H, W), generator=g),
             'inst': torch.randint(0, 50, (1, H, W), generator=g),
             'image': torch.rand(1, 3, H, W, generator=g) * 2 - 1}
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    autocast = autocast_for(opt.precision, dev)
    times, step = [], reference_train_step if s.get('ref') else train_step
    for _ in range(warmup + steps):
        sync(); t = time.perf_counter()
        step(model, batch, optG, optD, scaler, autocast)
        sync(); times.append(time.perf_counter() - t)
    train_peak = (torch.cuda.max_memory_allocated(dev) if dev.type == 'cuda'
                  else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    model.eval()
    inf = []
    with torch.no_grad(), autocast_for(opt.precision, dev):
        for _ in range(2):
            sync(); t = time.perf_counter(); model.synthesize(batch['label'], batch['inst']); sync()
            inf.append(time.perf_counter() - t)
    return dict(config=config, setting=setting, device=device, threads=threads, step_s=min(times[warmup:]),
                step_s_all=[round(x, 3) for x in times], peak_gib=train_peak / 2**30, infer_s=min(inf),
                torch=torch.__version__)


SETTING_NAMES = {'ref': 'reference iteration, here (fp32)'}
README = Path(__file__).with_name('README.md')


def results_table(results) -> str:
    "A markdown table of results (dicts from `child`), the official implementation's CPU figures first for each config."
    rows = ['| config | setting | s / iteration | peak memory (GiB) | s / inference |', '|---|---|---|---|---|']
    for c in dict.fromkeys(r['config'] for r in results):
        ref = REFERENCE_CPU[c]
        if all(r['device'] == 'cpu' for r in results if r['config'] == c):
            rows.append(f"| `{c}` | official code (fp32) | {ref[0]:.3g} | {ref[1]:.2f} | {ref[2]:.3g} |")
        for r in (r for r in results if r['config'] == c):
            cpu = r['device'] == 'cpu'
            speed = f" ({ref[0] / r['step_s']:.2f}×)" if cpu else ''
            mem = f" ({r['peak_gib'] / ref[1]:.2f}×)" if cpu else ''
            rows.append(f"| `{c}` | {SETTING_NAMES.get(r['setting'], r['setting'])} | {r['step_s']:.3g}{speed} | "
                        f"{r['peak_gib']:.2f}{mem} | {r['infer_s']:.3g} |")
    return '\n'.join(rows)


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


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument('--settings', nargs='+', default=None,
                   help=f"'ref' (the reference's iteration, fp32) or precision[+ckpt][+cl][+compile]; default {SETTINGS} (CPU)")
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=2, help="timed iterations (the fastest is reported)")
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', default=None, help="append results as JSON lines to this file")
    p.add_argument('--table', metavar='RESULTS', default=None,
                   help="write the results table of RESULTS (JSON lines from --out) into benchmarks/README.md, and stop")
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.table:
        write_readme_table(a.table); return
    if a.child:
        print('RESULT ' + json.dumps(child(*a.child, a.device, a.steps, a.warmup, a.threads)), flush=True); return
    settings = a.settings or (CUDA_SETTINGS if a.device.startswith('cuda') else SETTINGS)
    print(f"{'config':12} {'setting':12} {'step s':>8} {'speed-up':>9} {'peak GiB':>9} {'memory':>7} {'infer s':>8}"
          "   (speed-up and memory: against the official implementation's CPU figures)")
    failed = []
    for c in a.configs:
        for s in settings:
            cmd = [sys.executable, __file__, '--child', c, s, '--device', a.device, '--steps', str(a.steps),
                   '--warmup', str(a.warmup), '--threads', str(a.threads)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT ')), None)
            if line is None:
                print(f"{c:12} {s:12} failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:150]}", flush=True)
                failed.append(f"{c} {s}"); continue
            res = json.loads(line[7:])
            ref = REFERENCE_CPU[c]
            cpu = a.device == 'cpu'
            print(f"{c:12} {s:12} {res['step_s']:8.3f} {(ref[0] / res['step_s'] if cpu else float('nan')):8.2f}x "
                  f"{res['peak_gib']:9.2f} {(res['peak_gib'] / ref[1] if cpu else float('nan')):6.2f}x {res['infer_s']:8.3f}",
                  flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(res) + '\n')
    if failed: sys.exit(f"{len(failed)} of {len(a.configs) * len(settings)} settings failed: {', '.join(failed)}")


if __name__ == '__main__':
    main()
