"""How fast one worker core loads training items: both on-disk layouts at 2048×1024 (the `cityscapes_1024p` preset's
transform), and ToyStreets rendered at 256×128 (the `toy` preset).

    python benchmarks/loader.py --n 6 --rounds 3 --out benchmarks/results_loader.jsonl

The on-disk data is ToyStreets rendered at 2048×1024 and written in the Cityscapes layout (leftImg8bit/gtFine) and
in the paired-folder layout (train_label/_inst/_img); so the PNGs are synthetic scenes, not photographs. Each item is
loaded the way a DataLoader worker loads it (`dataset[i]`: decode, checks, transform) on one thread; the rounds
interleave the three sources. The bars (issue 15): ≥ 8 items/s per worker core at 2048×1024, ≥ 50 items/s for
ToyStreets at 256×128.
"""
import argparse, json, shutil, statistics, sys, tempfile, time
from pathlib import Path


def write_cityscapes(root: Path, n: int, size=(1024, 2048)) -> Path:
    "ToyStreets scenes in Cityscapes' layout: leftImg8bit/train/toy/*_leftImg8bit.png and gtFine's labelIds/instanceIds."
    import numpy as np
    from PIL import Image
    from pix2pixhd.toystreets import ToyStreets
    img, gt = root / 'leftImg8bit' / 'train' / 'toy', root / 'gtFine' / 'train' / 'toy'
    img.mkdir(parents=True); gt.mkdir(parents=True)
    scenes = ToyStreets(n, size)
    for i in range(n):
        label, inst, _, rgb = scenes.render(i)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(img / f'toy_{i:06d}_leftImg8bit.png')
        Image.fromarray(label.astype(np.uint8)).save(gt / f'toy_{i:06d}_gtFine_labelIds.png')
        Image.fromarray(inst.astype(np.uint16)).save(gt / f'toy_{i:06d}_gtFine_instanceIds.png')
    return root


def items_per_s(ds, n: int) -> float:
    t = time.perf_counter()
    for i in range(n): ds[i]
    return n / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=6, help='items per layout at 2048×1024')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--out', default=None)
    a = p.parse_args()
    import torch
    from pix2pixhd.model import get_options
    from pix2pixhd.toystreets import write_toystreets
    from pix2pixhd.train import make_dataset
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    try:
        sources = {
            'cityscapes layout 2048x1024': make_dataset(get_options('cityscapes_1024p', dataroot=str(write_cityscapes(tmp / 'cs', a.n)))),
            'paired folders 2048x1024': make_dataset(get_options('cityscapes_1024p', dataset_mode='folder', label_nc=35,
                                                                 dataroot=str(write_toystreets(tmp / 'pf', a.n, 0, (1024, 2048))))),
            'ToyStreets 256x128': make_dataset(get_options('toy')),
        }
        rates = {k: [] for k in sources}
        for _ in range(a.rounds):
            for k, ds in sources.items(): rates[k].append(items_per_s(ds, a.n if '2048' in k else 200))
    finally: shutil.rmtree(tmp, ignore_errors=True)
    rows = [dict(source=k, items_per_s=statistics.median(v), lo=min(v), hi=max(v), rounds=len(v), threads=1,
                 torch=torch.__version__) for k, v in rates.items()]
    for r in rows: print(f"{r['source']:30} {r['items_per_s']:7.1f} items/s per core (median of {r['rounds']}, range {r['lo']:.1f}–{r['hi']:.1f})")
    if a.out: Path(a.out).write_text(''.join(json.dumps(r) + '\n' for r in rows))
    bars = {'cityscapes layout 2048x1024': 8, 'paired folders 2048x1024': 8, 'ToyStreets 256x128': 50}
    short = [f"{r['source']} {r['items_per_s']:.1f} < {bars[r['source']]}" for r in rows if r['items_per_s'] < bars[r['source']]]
    if short: sys.exit("below the bar: " + '; '.join(short))


if __name__ == '__main__':
    main()
