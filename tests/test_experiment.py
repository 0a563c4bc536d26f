"""pix2pixhd_experiment as a user runs it: a whole (tiny) experiment, a rerun that skips what is done, a run killed
mid-way that loses at most the unit in progress, and bad input that gives one clear line."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

CMD = [sys.executable, '-c', 'import sys; from pix2pixhd.cli import experiment_cli; sys.exit(experiment_cli())']


def run(*args, timeout=600):
    return subprocess.run(CMD + list(args), capture_output=True, text=True, timeout=timeout, env={**os.environ, 'OMP_NUM_THREADS': '1'})


def lines(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def test_whole_experiment_then_rerun(tmp_path):
    args = ('tiny', '--out_dir', str(tmp_path), '--cache_dir', str(tmp_path / 'cache'))
    r = run(*args)
    assert r.returncode == 0, r.stderr
    path = tmp_path / 'tiny_cpu.jsonl'
    got = lines(path)
    assert sorted((l['row'], l['seed']) for l in got) == sorted(
        [(row, s) for row in ('pix2pix', 'pix2pixHD', 'U-Net, pix2pixHD objective') for s in (0, 1)] + [('oracle', 0)])
    for l in got:
        assert l['version'] == 'cpu' and l['scale']['size'] == [32, 64] and l['torch'] == torch.__version__
        assert all(0 <= p['mean_iou'] <= 1 and p['frechet'] >= 0 for p in l['points'])
    before = path.read_text()
    r = run(*args)
    assert r.returncode == 0 and '0 to run' in r.stdout, r.stdout + r.stderr
    assert path.read_text() == before                      # nothing re-run, nothing rewritten
    r = run('tiny', '--out_dir', str(tmp_path), '--table')
    assert r.returncode == 0 and '| pix2pixHD | 2 |' in r.stdout and '| oracle | 1 |' in r.stdout, r.stdout


def test_killed_run_loses_at_most_the_unit_in_progress(tmp_path):
    args = ('tiny', '--out_dir', str(tmp_path), '--cache_dir', str(tmp_path / 'cache'), '--budget', '300')
    path = tmp_path / 'tiny_cpu.jsonl'
    p = subprocess.Popen(CMD + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (path.exists() and len(path.read_text().splitlines()) >= 2): time.sleep(0.2)
        assert p.poll() is None, "the run ended before it could be killed: raise its budget"
        p.send_signal(signal.SIGKILL); p.wait(30)
    finally:
        if p.poll() is None: p.kill()
    kept = path.read_text()
    done = lines(path)                                     # every line written is whole
    assert 2 <= len(done) < 7
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert path.read_text().startswith(kept)               # the finished units were kept, not redone
    assert len(lines(path)) == 7 and len({(l['row'], l['seed']) for l in lines(path)}) == 7


@pytest.mark.parametrize('args, message', [
    (['table9'], "name an experiment: table1, mechanisms, boundaries, coarse_to_fine, tiny"),
    (['tiny', '--rows', 'unet'], "unknown row(s) ['unet']"),
    (['tiny', '--seeds', '0,one'], "--seeds takes comma-separated integers"),
    (['tiny', '--budget', '0'], "budget must be >= 1"),
    (['tiny', '--table'], "no results yet"),
])
def test_bad_input_gives_one_line(tmp_path, args, message):
    r = run(*args, '--out_dir', str(tmp_path), '--cache_dir', str(tmp_path / 'cache'))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith('pix2pixhd_experiment: error:') and message in r.stderr and 'Traceback' not in r.stderr, r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda is valid")
def test_cuda_without_a_gpu(tmp_path):
    r = run('tiny', '--device', 'cuda', '--out_dir', str(tmp_path))
    assert r.returncode == 2 and 'no CUDA GPU is visible here' in r.stderr, r.stderr


def test_damaged_results_file_names_its_line(tmp_path):
    (tmp_path / 'tiny_cpu.jsonl').write_text('{"row": "pix2pix", "seed": 0\n')
    r = run('tiny', '--out_dir', str(tmp_path), '--cache_dir', str(tmp_path / 'cache'))
    assert r.returncode == 2 and f"{tmp_path / 'tiny_cpu.jsonl'}:1: not a JSON results line" in r.stderr, r.stderr
