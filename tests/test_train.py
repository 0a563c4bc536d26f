"The trainer end to end, through its command lines: resume after SIGKILL, truncated checkpoints, DDP, bad input."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from pix2pixhd.model import get_options
from pix2pixhd.train import Trainer, TrainingStopped, read_checkpoint, CheckpointError
from pix2pixhd.clustering import load_clusters
from pix2pixhd.data import write_toystreets

TINY = ['--device', 'cpu', '--preset', 'toy', '--ngf', '8', '--ndf', '8', '--n_downsample_global', '2', '--n_blocks_global', '1',
        '--loadSize', '64', '--toy_n', '16', '--batchSize', '2', '--niter', '8', '--niter_decay', '8', '--nThreads', '0',
        '--no_progress', '--print_freq', '0']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}


def train(*args, check=True):
    r = subprocess.run([sys.executable, '-m', 'pix2pixhd.train', *TINY, *map(str, args)], capture_output=True, text=True,
                       env=ENV, timeout=600)
    if check and r.returncode != 0: raise AssertionError(f"pix2pixhd_train failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def weights(run_dir):
    ck = read_checkpoint(Path(run_dir) / 'latest.pth')
    return ck, {f'{n}.{k}': v for n in ('netG', 'netD') for k, v in ck[n].items()}


def wait_for_log(p, log: Path, n: int, timeout: float = 300):
    "Wait until the run `p` has logged `n` iterations in `log` (or ended, or `timeout` passed)."
    t0 = time.time()
    while time.time() - t0 < timeout and p.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= n: return
        time.sleep(0.005)


def report(fault: str, injected: str, did: str, lost: int | None, exact: bool | None):
    "One row of the fault table in notebook 14, appended to the file FAULT_REPORT names (if set): what this test saw, after its assertions held."
    if path := os.environ.get('FAULT_REPORT'):
        with open(path, 'a') as f: f.write(json.dumps(dict(fault=fault, injected=injected, did=did, lost=lost, exact=exact)) + '\n')


def assert_same(a, b):
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
    "An uninterrupted 120-iteration run, checkpointing every 10 iterations."
    root = tmp_path_factory.mktemp('runs')
    train('--checkpoints_dir', root, '--name', 'full', '--max_iters', 120, '--save_latest_freq', 10)
    return root


def test_sigkill_then_resume_gives_the_same_weights(full_run):
    run = full_run / 'cut'
    cmd = [sys.executable, '-m', 'pix2pixhd.train', *TINY, '--checkpoints_dir', str(full_run), '--name', 'cut',
           '--max_iters', '120', '--save_latest_freq', '10']
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / 'loss_log.jsonl'
    wait_for_log(p, log, 25)
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    logged = len(log.read_text().splitlines())
    killed_at = read_checkpoint(run / 'latest.pth')['total_iters']
    assert 0 < killed_at < 120
    r = train('--checkpoints_dir', full_run, '--name', 'cut', '--max_iters', 120, '--save_latest_freq', 10, '--resume')
    assert f"iteration {killed_at}" in r.stdout + r.stderr
    ck, w = weights(run)
    assert ck['total_iters'] == 120
    assert_same(weights(full_run / 'full')[1], w)
    its = [json.loads(l)['iter'] for l in (run / 'loss_log.jsonl').read_text().splitlines()]
    assert its[-1] == 120 and set(range(1, 121)) <= set(its)   # iterations after the checkpoint are logged twice
    report('killed outright', 'SIGKILL to the trainer after 25 logged iterations', 'died at once (nothing can run); '
           '--resume went on from the last periodic checkpoint', logged - killed_at, True)


def flip_one_bit(path: Path):
    "Flip the lowest bit of a weight of G's first layer inside the file, as a failing disk would."
    ck = torch.load(path, weights_only=True)
    w = next(iter(ck['netG'].values())).reshape(-1)
    raw = bytearray(path.read_bytes())
    at = raw.find(w[:4].numpy().tobytes())
    assert at > 0
    raw[at] ^= 1; path.write_bytes(raw)


@pytest.mark.parametrize('damage', ['truncated', 'bit flipped'])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(full_run, tmp_path, damage):
    run = tmp_path / 'damaged'
    train('--checkpoints_dir', tmp_path, '--name', 'damaged', '--max_iters', 110, '--save_latest_freq', 10)
    latest = run / 'latest.pth'
    prev_at = read_checkpoint(run / 'latest.prev.pth')['total_iters']
    assert prev_at < 110
    if damage == 'truncated': latest.write_bytes(latest.read_bytes()[:latest.stat().st_size // 2])   # a disk that filled up mid-write
    else: flip_one_bit(latest)
    said = 'may be truncated' if damage == 'truncated' else 'no longer match the checksum'
    with pytest.raises(CheckpointError, match=said): read_checkpoint(latest)
    r = train('--checkpoints_dir', tmp_path, '--name', 'damaged', '--max_iters', 120, '--save_latest_freq', 10, '--resume')
    out = r.stdout + r.stderr
    assert f'latest.pth: {"cannot be read" if damage == "truncated" else "is corrupt"}' in out, out[-2000:]
    assert 'latest.prev.pth' in out and f'iteration {prev_at}' in out
    assert_same(weights(full_run / 'full')[1], weights(run)[1])
    report(f'latest.pth {damage}', 'cut to half its size' if damage == 'truncated' else 'one bit of one weight of G flipped in the file',
           f'--resume named it ({said.replace("no longer match", "contents no longer match")}) and used latest.prev.pth', 110 - prev_at, True)


def test_two_process_ddp_on_gloo_keeps_ranks_identical(ddp_plain):
    tmp_path, (r0, r1) = ddp_plain
    assert r0['world_size'] == r1['world_size'] == 2 and r0['ddp'] == ['D', 'G']
    assert not set(r0['seen']) & set(r1['seen']) and len(r0['seen']) == len(r1['seen']) == 8   # disjoint shards
    assert_same(r0['state'], r1['state'])
    from pix2pixhd.model import Pix2PixHD
    torch.manual_seed(0)
    init = Pix2PixHD(get_options('toy', ngf=8, ndf=8, n_downsample_global=2, n_blocks_global=1)).state_dict()
    assert any(not torch.equal(init[k], r0['state'][k]) for k in init)           # it trained
    ck = read_checkpoint(tmp_path / 'ddp' / 'latest.pth')
    assert ck['world_size'] == 2 and ck['total_iters'] == 6
    assert_same({k: v for k, v in ck['netG'].items()}, {k[5:]: v for k, v in r0['state'].items() if k.startswith('netG.')})


WORKER = Path(__file__).with_name('ddp_worker.py')


def ddp_run(tmp_path, mode: str, timeout: int = 600, launcher=('--standalone', '--nproc_per_node=2')):
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', *launcher, str(WORKER), str(tmp_path), mode],
                       capture_output=True, text=True, env=ENV, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    ddp_run.output = r.stdout + r.stderr
    return [torch.load(tmp_path / f'rank{i}.pt', weights_only=True) for i in (0, 1)]


@pytest.fixture(scope='module')
def ddp_plain(tmp_path_factory):
    "An uninterrupted 2-process run of 6 iterations (checkpoints at 3 and 6): what the runs with faults must end with."
    root = tmp_path_factory.mktemp('ddp_plain')
    return root, ddp_run(root, 'plain')


def test_a_nan_on_one_rank_stops_every_rank(tmp_path):
    "Rank 1's loss turns NaN at iteration 3: both ranks stop there with the message (no rank left waiting in an all-reduce)."
    ddp_run(tmp_path, 'nan', timeout=180)
    stopped = [(tmp_path / f'rank{i}.stopped').read_text() for i in (0, 1)]
    assert all(m.startswith('iteration 3 (epoch 1): non-finite loss') and 'Last good checkpoint' in m for m in stopped), stopped
    assert 'non-finite loss on another process' in stopped[0] and 'non-finite loss (G_GAN' in stopped[1], stopped
    assert all('Last good checkpoint: none yet' in m for m in stopped) and not (tmp_path / 'ddp' / 'latest.pth').exists()


def test_sigterm_on_one_rank_stops_every_rank_after_the_same_iteration(tmp_path):
    "Rank 1 alone is signalled in iteration 4: both finish it, rank 0 writes the checkpoint, both stop (no rank left waiting)."
    ddp_run(tmp_path, 'term', timeout=180)
    stopped = [(tmp_path / f'rank{i}.stopped').read_text() for i in (0, 1)]
    assert stopped[0].startswith('4 another rank was signalled: stopped after iteration 4'), stopped
    assert stopped[1].startswith('4 SIGTERM: stopped after iteration 4'), stopped
    assert read_checkpoint(tmp_path / 'ddp' / 'latest.pth')['total_iters'] == 4
    report('one rank preempted', 'SIGTERM to rank 1 only, in iteration 4 (torchrun, 2 processes)',
           'both ranks finished iteration 4; rank 0 saved; both stopped', 0, None)


def test_ddp_with_batch_norm_keeps_the_ranks_statistics_equal(tmp_path):
    r0, r1 = ddp_run(tmp_path, 'batch')
    stats = [k for k in r0['state'] if k.endswith('running_mean') or k.endswith('running_var')]
    assert stats and any(not torch.equal(r0['state'][k], torch.zeros_like(r0['state'][k])) for k in stats if 'mean' in k)
    assert_same({k: r0['state'][k] for k in stats}, {k: r1['state'][k] for k in stats})


def test_nan_loss_stops_and_names_iteration_and_checkpoint(tmp_path):
    opt = get_options('toy', ngf=8, ndf=8, n_downsample_global=2, n_blocks_global=1, loadSize=64, toy_n=16, batchSize=2,
                      nThreads=0, checkpoints_dir=str(tmp_path), name='nan', save_latest_freq=2, max_iters=10)
    tr = Trainer(opt, device='cpu', progress=False, log=lambda m: None)
    gan, calls = tr.model.criterionGAN.forward, [0]
    def poisoned(*a, **k):
        calls[0] += 1
        out = gan(*a, **k)
        return out * float('nan') if calls[0] > 9 else out    # 3 GAN terms per iteration: NaN from iteration 4
    tr.model.criterionGAN.forward = poisoned
    with pytest.raises(TrainingStopped, match=r"iteration 4 \(epoch 1\)") as e: tr.fit()
    assert str(tmp_path / 'nan' / 'latest.pth') in str(e.value) and 'D_fake' in str(e.value)
    assert read_checkpoint(tmp_path / 'nan' / 'latest.pth')['total_iters'] == 2    # nothing written after the NaN


def test_cli_errors_are_clear(full_run, tmp_path):
    r = train('--checkpoints_dir', full_run, '--name', 'full', '--max_iters', 1, check=False)
    assert r.returncode == 2 and 'already holds a run: pass --resume' in r.stderr
    r = train('--checkpoints_dir', full_run, '--name', 'full', '--resume', '--ngf', 16, '--n_blocks_global', 2, check=False)
    assert r.returncode == 2 and 'ngf: trained with 8, asked for 16' in r.stderr and 'n_blocks_global: trained with 1, asked for 2' in r.stderr
    r = train('--checkpoints_dir', tmp_path, '--name', 'x', '--dataset_mode', 'folder', '--dataroot', tmp_path / 'nope', check=False)
    assert r.returncode == 2 and 'nope: dataset folder not found' in r.stderr
    r = train('--checkpoints_dir', tmp_path, '--name', 'x', '--label_nc', 5, check=False)
    assert r.returncode == 2 and 'ToyStreets has 7 classes' in r.stderr
    r = train('--lamda_feat', 1, check=False)
    assert r.returncode == 2 and 'unrecognized arguments: --lamda_feat' in r.stderr
    r = train('--netG', 'unet', check=False)
    assert r.returncode == 2 and "netG='unet' is not one of 'global', 'local'" in r.stderr


def test_folder_data_test_and_encode_commands(tmp_path):
    data = write_toystreets(tmp_path / 'data', n_train=8, n_val=3, size=(32, 64))
    train('--checkpoints_dir', tmp_path, '--name', 'feat', '--dataset_mode', 'folder', '--dataroot', data,
          '--instance_feat', '--n_downsample_E', 2, '--max_iters', 4, '--display_freq', 2)
    run = tmp_path / 'feat'
    assert len(list((run / 'samples').glob('iter_*.png'))) == 2
    enc = subprocess.run(['pix2pixhd_encode', '--checkpoint', str(run), '--n_clusters', '2'], capture_output=True, text=True, env=ENV)
    assert enc.returncode == 0, enc.stderr
    clusters = load_clusters(run / 'clusters.npz')
    assert clusters and all(c.shape[1] == 3 for c in clusters.values())
    for extra in ([], ['--clusters', str(run / 'clusters.npz')]):
        out = tmp_path / ('res' + str(len(extra)))
        t = subprocess.run(['pix2pixhd_test', '--checkpoint', str(run / 'latest.pth'), '--out', str(out), *extra],
                           capture_output=True, text=True, env=ENV)
        assert t.returncode == 0, t.stderr
        page = (out / 'index.html').read_text()
        assert page.count('<tr><td>') == 3 and len(list((out / 'images').glob('*_synthesized.png'))) == 3
    plain = tmp_path / 'plain'
    train('--checkpoints_dir', tmp_path, '--name', 'plain', '--max_iters', 1)
    enc = subprocess.run(['pix2pixhd_encode', '--checkpoint', str(plain)], capture_output=True, text=True, env=ENV)
    assert enc.returncode == 2 and 'no feature encoder' in enc.stderr
    t = subprocess.run(['pix2pixhd_test', '--checkpoint', str(tmp_path / 'missing')], capture_output=True, text=True, env=ENV)
    assert t.returncode == 2 and 'missing: checkpoint not found' in t.stderr


def test_coarse_to_fine_starts_from_the_global_run(tmp_path):
    from pix2pixhd.train import freeze_global
    small = dict(ndf=8, n_downsample_global=2, n_blocks_global=1, loadSize=64, toy_n=8, batchSize=2, nThreads=0,
                 checkpoints_dir=str(tmp_path))
    coarse = Trainer(get_options('toy', ngf=8, name='g1', max_iters=2, **small), device='cpu', progress=False, log=lambda m: None).fit()
    hd = get_options('toy_hd', ngf=4, name='hd', num_D=3, max_iters=0, load_pretrain=str(tmp_path / 'g1'), **{**small, 'loadSize': 128})
    fine = Trainer(hd, device='cpu', progress=False, log=lambda m: None)
    g1, g = coarse.model.netG.state_dict(), fine.model.netG.state_dict()
    for k in fine.model.netG.model.state_dict():
        assert torch.equal(g['model.' + k], g1['model.' + k])           # G1 = the coarse run's G, minus its last layers
    d_old, d_new = coarse.model.netD.state_dict(), fine.model.netD.state_dict()
    for k, v in d_old.items(): assert torch.equal(d_new[k], v)          # the two coarse scales come from the 512p-style D
    assert freeze_global(fine.model, True) > 0 and not any(p.requires_grad for p in fine.model.netG.model.parameters())
    bad = hd.replace(name='bad', label_nc=7, no_instance=True)
    with pytest.raises(ValueError, match='no_instance: trained with False, asked for True'):
        Trainer(bad, device='cpu', progress=False, log=lambda m: None)


def test_sigterm_mid_run_saves_then_resume_gives_the_same_weights(full_run):
    "What SLURM or Kubernetes does: SIGTERM, a grace period. The run finishes its iteration, saves, says how to resume, exits 75."
    run = full_run / 'term'
    cmd = [sys.executable, '-m', 'pix2pixhd.train', *TINY, '--checkpoints_dir', str(full_run), '--name', 'term',
           '--max_iters', '120', '--save_latest_freq', '10', '--nThreads', '2']    # loader workers: they get the signal too
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    log = run / 'loss_log.jsonl'
    wait_for_log(p, log, 25)
    os.killpg(p.pid, signal.SIGTERM)                                   # as a scheduler does: every process of the job
    out, err = p.communicate(timeout=300)
    assert p.returncode == 75, f"exit status {p.returncode}:\n{err[-2000:]}"
    at = read_checkpoint(run / 'latest.pth')['total_iters']
    assert 25 <= at < 120 and at == len(log.read_text().splitlines())   # every iteration it logged is in the checkpoint
    assert f"SIGTERM: stopped after iteration {at}" in err and '--resume' in err
    r = train('--checkpoints_dir', full_run, '--name', 'term', '--max_iters', 120, '--save_latest_freq', 10, '--resume')
    assert f"iteration {at}" in r.stdout + r.stderr
    assert_same(weights(full_run / 'full')[1], weights(run)[1])
    report('preempted (SIGTERM)', 'SIGTERM to every process of the job (trainer, 2 loader workers) after 25 iterations',
           'finished its iteration, saved, said how to resume, exit status 75', 0, True)


def test_a_second_signal_exits_at_once():
    code = ("import os, signal, time\nfrom pix2pixhd.checkpoint import StopSignals\n"
            "with StopSignals() as s:\n    os.kill(os.getpid(), signal.SIGTERM); print(s.received, flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30); print('still here')\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=60)
    assert (r.returncode, r.stdout) == (128 + signal.SIGTERM, 'SIGTERM\n'), (r.returncode, r.stdout, r.stderr)


def test_a_second_run_in_a_busy_folder_is_refused_and_a_dead_runs_lock_taken_over(tmp_path):
    import socket
    cmd = [sys.executable, '-m', 'pix2pixhd.train', *TINY, '--checkpoints_dir', str(tmp_path), '--name', 'busy',
           '--max_iters', '100000', '--save_latest_freq', '5']
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_log(p, tmp_path / 'busy' / 'loss_log.jsonl', 6)
    try:
        r = train('--checkpoints_dir', tmp_path, '--name', 'busy', '--max_iters', 20, '--resume', check=False)
        assert r.returncode == 2 and f"in use by process {p.pid} on {socket.gethostname()}" in r.stderr, r.stderr[-2000:]
    finally:
        p.send_signal(signal.SIGKILL); p.wait()
    at = read_checkpoint(tmp_path / 'busy' / 'latest.pth')['total_iters']
    r = train('--checkpoints_dir', tmp_path, '--name', 'busy', '--max_iters', at + 2, '--resume')
    assert f"left by process {p.pid}" in r.stdout + r.stderr and 'taking the run folder over' in r.stdout + r.stderr
    assert read_checkpoint(tmp_path / 'busy' / 'latest.pth')['total_iters'] == at + 2
    assert not (tmp_path / 'busy' / '.lock').exists()                      # released when the run ended
    report('two runs, one folder', 'a second pix2pixhd_train --resume on a folder in use; then the first SIGKILLed',
           'refused, naming pid and host (exit status 2); the dead run\'s lock was taken over with a warning', None, None)


# --- What clusters do to runs: full disks, bad files, dying workers and ranks, several nodes -----------------------

def test_a_full_disk_keeps_the_last_checkpoint_and_stops_cleanly(full_run, tmp_path):
    "The OS refuses to grow files past half a checkpoint (RLIMIT_FSIZE: EFBIG, as ENOSPC would): the save at the end of epoch 2 (iteration 16) fails."
    import resource
    args = ('--checkpoints_dir', tmp_path, '--name', 'disk', '--max_iters', 120, '--save_latest_freq', 10)
    train(*args[:-4], '--max_iters', 10, '--save_latest_freq', 10)
    latest = tmp_path / 'disk' / 'latest.pth'
    limit = latest.stat().st_size // 2
    r = subprocess.run([sys.executable, '-m', 'pix2pixhd.train', *TINY, *map(str, args), '--resume'], capture_output=True,
                       text=True, env=ENV, timeout=600, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert r.returncode == 2, f"exit status {r.returncode}:\n{r.stderr[-2000:]}"
    assert f"after iteration 16: {latest}: the checkpoint could not be written (File too large)" in r.stderr, r.stderr[-2000:]
    assert 'it needs about' in r.stderr and 'MiB are free there' in r.stderr and f'the previous checkpoint {latest} is unchanged' in r.stderr
    assert read_checkpoint(latest)['total_iters'] == 10                      # intact, and nothing half-written beside it
    assert sorted(f.name for f in latest.parent.glob('*.pth*')) == ['latest.prev.pth', 'latest.pth']
    assert not list(latest.parent.glob('.*.tmp'))
    logged = [json.loads(l)['iter'] for l in (tmp_path / 'disk' / 'loss_log.jsonl').read_text().splitlines()]
    train(*args, '--resume')                                                 # space again: on from iteration 10
    assert_same(weights(full_run / 'full')[1], weights(tmp_path / 'disk')[1])
    report('disk full', 'RLIMIT_FSIZE at half a checkpoint: the OS refuses the write (EFBIG, as ENOSPC)',
           'the save at iteration 16 failed: path, reason, MiB needed and free; exit status 2; latest.pth (iteration 10) intact',
           logged[-1] - 10, True)


def test_a_bad_file_mid_epoch_stops_naming_it_and_skip_bad_files_leaves_it_out(tmp_path):
    data = write_toystreets(tmp_path / 'data', n_train=16, n_val=0, size=(32, 64))
    bad = data / 'train_img' / '000009.png'
    bad.write_bytes(bad.read_bytes()[:60])                                   # the header survives: start-up checks pass
    args = ('--checkpoints_dir', tmp_path, '--name', 'bad', '--dataset_mode', 'folder', '--dataroot', data,
            '--max_iters', 20, '--save_latest_freq', 100)
    r = train(*args, check=False)
    assert r.returncode == 2, f"exit status {r.returncode}:\n{r.stderr[-2000:]}"
    at = read_checkpoint(tmp_path / 'bad' / 'latest.pth')['total_iters']
    assert 0 < at <= 8 and at == len((tmp_path / 'bad' / 'loss_log.jsonl').read_text().splitlines())   # nothing lost
    assert f"{bad}: cannot read image" in r.stderr and f"Stopped after iteration {at} (epoch 1)" in r.stderr, r.stderr[-2000:]
    assert '--skip_bad_files' in r.stderr and '--resume' in r.stderr
    last = train(*args[:2], '--name', 'bad_last', *args[4:-4], '--max_iters', at, check=False)   # met in the run's last iteration
    assert last.returncode == 2 and f"{bad}: cannot read image" in last.stderr, last.stderr[-2000:]
    r = train(*args, '--resume', '--skip_bad_files')
    out = r.stdout + r.stderr
    assert out.count(f"left out {bad}: cannot read image") == 1 and '1 unreadable file(s) left out' in out, out[-2000:]
    assert read_checkpoint(tmp_path / 'bad' / 'latest.pth')['total_iters'] == 20
    report('bad file mid-epoch', 'a training photo cut to 60 bytes (header intact: start-up checks pass)',
           f'stopped after iteration {at}, naming the file, exit status 2; with --skip_bad_files: left out, 1 counted', 0, None)


def worker_pids(pid: int) -> list[int]:
    "The child processes of `pid` (its DataLoader workers), from /proc."
    kids = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(fields[1]) == pid: kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='finds the workers through /proc (Linux)')
def test_a_killed_loader_worker_gives_a_clear_message_and_an_exact_resume(full_run):
    run = full_run / 'oom'
    cmd = [sys.executable, '-m', 'pix2pixhd.train', *TINY, '--checkpoints_dir', str(full_run), '--name', 'oom',
           '--max_iters', '120', '--save_latest_freq', '10', '--nThreads', '2']
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_log(p, run / 'loss_log.jsonl', 25)
    kids = worker_pids(p.pid)
    assert len(kids) == 2, kids
    os.kill(kids[0], signal.SIGKILL)                                         # what the out-of-memory killer does
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2, f"exit status {p.returncode}:\n{err[-2000:]}"
    assert f"pid {kids[0]} killed by SIGKILL" in err and 'out-of-memory killer' in err and '--nThreads' in err, err[-2000:]
    at = read_checkpoint(run / 'latest.pth')['total_iters']
    assert 25 <= at < 120 and at == len((run / 'loss_log.jsonl').read_text().splitlines())   # every finished iteration saved
    train('--checkpoints_dir', full_run, '--name', 'oom', '--max_iters', 120, '--save_latest_freq', 10, '--resume')
    assert_same(weights(full_run / 'full')[1], weights(run)[1])
    report('loader worker killed', 'SIGKILL to one of 2 DataLoader workers after 25 iterations (as the OOM killer)',
           'stopped between iterations naming the pid and signal, saved, exit status 2', 0, True)


def test_a_loader_worker_killed_on_one_rank_stops_every_rank_with_a_checkpoint(ddp_plain, tmp_path):
    """Rank 1's DataLoader worker is killed in iteration 2: both ranks stop after the same iteration (the death is met on fetching
    the next batch, before the ranks agree to go on), rank 0 saves it, and --resume ends with the uninterrupted run's weights."""
    ddp_run(tmp_path, 'worker', timeout=240)
    stopped = [(tmp_path / f'rank{i}.stopped').read_text() for i in (0, 1)]
    at = read_checkpoint(tmp_path / 'ddp' / 'latest.pth')['total_iters']
    assert 2 <= at < 6 and all(f'Stopped after iteration {at} ' in m for m in stopped), (at, stopped)
    assert stopped[1].startswith('process 1: a data-loading process died (pid ') and 'killed by SIGKILL' in stopped[1], stopped
    assert stopped[0] == stopped[1], stopped                               # rank 0's log names rank 1's fault
    its = [json.loads(l)['iter'] for l in (tmp_path / 'ddp' / 'loss_log.jsonl').read_text().splitlines()]
    assert its == list(range(1, at + 1)), its                              # every finished iteration is in the checkpoint
    r0, r1 = ddp_run(tmp_path, 'resume')
    plain = ddp_plain[1]
    assert_same(plain[0]['state'], r0['state']); assert_same(plain[1]['state'], r1['state'])
    report('loader worker killed on one rank', 'SIGKILL to rank 1\'s DataLoader worker in iteration 2 (torchrun, 2 processes)',
           f'both ranks stopped after iteration {at}, rank 0 saved it; both named rank 1, the pid and the signal', 0, True)


def test_torchrun_restarts_a_killed_rank_from_the_checkpoint_and_ends_with_the_same_weights(ddp_plain, tmp_path):
    "Rank 1 dies (SIGKILL) in iteration 5; torchrun --max-restarts 1 restarts both; they go on from the checkpoint of iteration 4 (epoch 1's end)."
    r0, r1 = ddp_run(tmp_path, 'die', launcher=('--standalone', '--nproc_per_node=2', '--max-restarts=1'))
    assert 'restart 1 by torchrun: resuming' in ddp_run.output and 'iteration 4' in ddp_run.output, ddp_run.output[-3000:]
    its = [json.loads(l)['iter'] for l in (tmp_path / 'ddp' / 'loss_log.jsonl').read_text().splitlines()]
    assert its == [1, 2, 3, 4, 5, 6], its                                   # iteration 5, cut short, was done again: none lost
    plain = ddp_plain[1]
    assert_same(plain[0]['state'], r0['state']); assert_same(plain[1]['state'], r1['state'])
    assert_same(weights(ddp_plain[0] / 'ddp')[1], weights(tmp_path / 'ddp')[1])
    report('rank killed', 'SIGKILL to rank 1 in iteration 5 (torchrun --max-restarts 1, 2 processes)',
           'torchrun restarted both; they resumed from the checkpoint of iteration 4', len(its) - len(set(its)), True)


def test_two_nodes_on_this_machine_train_and_resume(ddp_plain, tmp_path):
    "torchrun --nnodes 2 --nproc-per-node 1, rendezvous on 127.0.0.1: 3 iterations, then --resume to 6, as one 2-process run."
    import socket
    def nodes(mode):
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
        launch = lambda rank: subprocess.Popen(
            [sys.executable, '-m', 'torch.distributed.run', '--nnodes=2', '--nproc_per_node=1', f'--node_rank={rank}',
             '--master_addr=127.0.0.1', f'--master_port={port}', str(WORKER), str(tmp_path), mode],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ps = [launch(0), launch(1)]
        outs = [p.communicate(timeout=600)[0] for p in ps]
        assert [p.returncode for p in ps] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
        return ''.join(outs)
    nodes('half')
    assert read_checkpoint(tmp_path / 'ddp' / 'latest.pth')['total_iters'] == 3
    out = nodes('resume')
    assert 'resumed from' in out and 'iteration 3' in out
    ck, w = weights(tmp_path / 'ddp')
    assert ck['total_iters'] == 6 and ck['world_size'] == 2
    assert_same(weights(ddp_plain[0] / 'ddp')[1], w)
    report('two nodes', 'torchrun --nnodes 2 --nproc_per_node 1 on 127.0.0.1: 3 iterations, then --resume to 6',
           'trained and resumed as one 2-process run', 0, True)
