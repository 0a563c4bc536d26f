"""The first iterations on your own small images: six 160×96 thermal → RGB pairs (notebook 20's `write_thermal_pairs`),
trained as a new user first ran the README's command (the default `--resize_or_crop scale_width --loadSize 1024`,
the reference's) and as the README gives it now (`--resize_or_crop none`: the data's own size), both `--no_vgg_loss`.

    python benchmarks/own_data.py --rounds 2 --iters 3 --out benchmarks/results_own_data.jsonl

Each round trains each setting once, in its own process, one after the other (interleaved, so the machine's speed
drifts alike for both), and writes one JSON line per run: the setting, the round, the size the networks ran at, and
each iteration's seconds as `loss_log.jsonl` records them (the training step, without start-up).
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

SETTINGS = {'default (scale_width 1024)': [], 'resize_or_crop none': ['--resize_or_crop', 'none']}
COMMAND = ['--dataset_mode', 'folder', '--label_nc', '0', '--no_instance', '--no_vgg_loss', '--no_progress']


def network_size(root: Path, extra: list) -> str:
    "WxH of the items the setting trains on."
    from pix2pixhd.cli import parse_options
    from pix2pixhd.train import make_dataset
    opt, _ = parse_options([*COMMAND, '--dataroot', str(root), *extra])
    h, w = make_dataset(opt)[0]['image'].shape[-2:]
    return f"{w}x{h}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--iters', type=int, default=3, help='iterations per run')
    p.add_argument('--out', default='benchmarks/results_own_data.jsonl')
    a = p.parse_args()
    from pix2pixhd.owndata import write_thermal_pairs
    tmp = Path(tempfile.mkdtemp())
    root = write_thermal_pairs(tmp / 'thermal2rgb', n_train=6, n_test=0, size=(96, 160))
    sizes = {name: network_size(root, extra) for name, extra in SETTINGS.items()}
    rows = []
    for r in range(a.rounds):
        for i, (name, extra) in enumerate(SETTINGS.items()):
            run = f"s{i}_r{r}"
            t = time.perf_counter()
            subprocess.run([sys.executable, '-m', 'pix2pixhd.train', *COMMAND, '--dataroot', str(root), '--checkpoints_dir',
                            str(tmp / 'ck'), '--name', run, '--max_iters', str(a.iters), *extra], check=True, capture_output=True)
            iters = [json.loads(l)['secs'] for l in (tmp / 'ck' / run / 'loss_log.jsonl').read_text().splitlines()]
            rows.append(dict(setting=name, round=r, size=sizes[name], iter_s=iters, wall_s=round(time.perf_counter() - t, 1)))
            print(json.dumps(rows[-1]), flush=True)
    Path(a.out).write_text(''.join(json.dumps(row) + '\n' for row in rows))


if __name__ == '__main__':
    main()
