"pix2pixhd_eval end to end, and its bad inputs."
import json, os, subprocess, sys

import torch

from pix2pixhd.evaluate import Segmenter, save_segmenter, load_segmenter, confusion_matrix, segmentation_scores, score_images
from pix2pixhd.toystreets import ToyStreets

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
TINY = ['--device', 'cpu', '--preset', 'toy', '--ngf', '8', '--ndf', '8', '--n_downsample_global', '2', '--n_blocks_global', '1',
        '--loadSize', '64', '--toy_n', '16', '--batchSize', '2', '--nThreads', '0', '--no_progress', '--max_iters', '4']


def run(*cmd):
    return subprocess.run([*map(str, cmd)], capture_output=True, text=True, env=ENV, timeout=600)


def test_eval_command_scores_a_run_and_rejects_bad_segmenters(tmp_path):
    r = run(sys.executable, '-m', 'pix2pixhd.train', *TINY, '--checkpoints_dir', tmp_path, '--name', 'toy')
    assert r.returncode == 0, r.stderr
    ck = tmp_path / 'toy'
    out = tmp_path / 'scores.json'
    r = run('pix2pixhd_eval', '--checkpoint', ck, '--how_many', 4, '--segmenter_iters', 20, '--out', out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert set(rows) == {'pix2pixHD (checkpoint)', 'oracle (real photos)'}
    model, oracle = rows['pix2pixHD (checkpoint)'], rows['oracle (real photos)']
    assert oracle['frechet'] < 1e-6 < 0.1 < model['frechet']          # the model row scores the synthesized images, not the photos
    assert oracle['pixel_acc'] > model['pixel_acc'] and oracle['mean_iou'] > model['mean_iou']   # 4 iterations are far from photos
    assert (ck / 'segmenter.pt').is_file() and '| pix2pixHD (checkpoint) |' in r.stdout
    seg = load_segmenter(str(ck / 'segmenter.pt'))
    assert isinstance(seg, Segmenter) and seg.n_classes == 7
    r = run('pix2pixhd_eval', '--checkpoint', ck, '--segmenter', tmp_path / 'missing.pt')
    assert r.returncode == 2 and 'missing.pt' in r.stderr and 'no such file' in r.stderr
    (tmp_path / 'junk.pt').write_bytes(b'not a model')
    r = run('pix2pixhd_eval', '--checkpoint', ck, '--segmenter', tmp_path / 'junk.pt')
    assert r.returncode == 2 and 'junk.pt: neither a save_segmenter file nor a TorchScript module' in r.stderr
    r = run('pix2pixhd_eval', '--checkpoint', ck, '--segmenter', 'no_such_pkg:build')
    assert r.returncode == 2 and "no_such_pkg" in r.stderr
    r = run('pix2pixhd_eval')
    assert r.returncode == 2 and '--checkpoint is required' in r.stderr
    r = run('pix2pixhd_eval', '--checkpoint', ck, '--how_many', 4, '--val_seed', 5, '--json')
    assert r.returncode == 0, r.stderr
    line, = r.stdout.splitlines()                     # one JSON line, nothing else on stdout
    fresh = json.loads(line)
    assert set(fresh) == set(rows) and all(set(v) == {'pixel_acc', 'mean_iou', 'frechet'} for v in fresh.values())
    scenes = ToyStreets(4, (32, 64), seed=5, start=16)              # --val_seed 5: fresh scenes after the 16 training ones
    photos = torch.stack([scenes[i]['image'] for i in range(4)])
    want = score_images(seg, photos, torch.stack([scenes[i]['label'] for i in range(4)]), photos, 7)
    assert abs(fresh['oracle (real photos)']['pixel_acc'] - want['pixel_acc']) < 1e-6
    assert abs(fresh['oracle (real photos)']['mean_iou'] - want['mean_iou']) < 1e-6


def test_segmenter_round_trip_and_scores(tmp_path):
    seg = Segmenter(5, width=4, depth=2)
    p = save_segmenter(seg, tmp_path / 's.pt')
    again = load_segmenter(str(p))
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(seg.eval()(x), again(x))
    conf = confusion_matrix(torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long), 5)
    s = segmentation_scores(conf)
    assert s['pixel_acc'] == 1.0 and s['mean_iou'] == 1.0
