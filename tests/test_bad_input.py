"Bad command lines and files: each is refused before any work is lost, with one line naming the option or file and what to do."
import pytest
import torch

from pix2pixhd import cli
from pix2pixhd.cli import train_cli, toydata_cli
from pix2pixhd.train import read_checkpoint

TINY = ['--device', 'cpu', '--preset', 'toy', '--ngf', '8', '--ndf', '8', '--n_downsample_global', '2', '--n_blocks_global', '1',
        '--loadSize', '64', '--toy_n', '4', '--batchSize', '2', '--nThreads', '0', '--no_progress', '--max_iters', '1']


def fails(cli, argv, capsys):
    "Run a command in-process; its exit status must be 2 and its stderr one `prog: error:` line, returned."
    with pytest.raises(SystemExit) as e: cli(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert 'Traceback' not in err and err.count('error:') == 1, err
    return err


@pytest.mark.parametrize('args, message', [
    (['--ngf', '0'], 'ngf must be >= 1, got 0'),
    (['--batchSize', '0'], 'batchSize must be >= 1, got 0'),
    (['--niter', '-1'], 'niter must be >= 0, got -1'),
    (['--instance_feat', '--no_instance'], 'instance_feat needs instance maps: drop no_instance'),
    (['--dataset_mode', 'folder', '--dataroot', '.', '--label_nc', '0'], 'label_nc=0 (RGB label images) has no instance maps: set no_instance=True'),
    (['--toy_n', '1'], '1 items are fewer than batchSize=2 × 1 process(es): nothing to train on'),
    (['--loadSize', '8'], 'ToyStreets size must be at least 16×16, got 8×4'),
    (['--device', 'gpu'], "--device 'gpu' is not a device: use 'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_options(tmp_path, capsys, args, message):
    err = fails(train_cli, [*TINY, '--checkpoints_dir', str(tmp_path), *args], capsys)
    assert message in err, err
    assert not list(tmp_path.rglob('*.pth'))                    # refused before anything was written


def test_cuda_asked_where_there_is_none(tmp_path, capsys):
    if torch.cuda.is_available():   # a GPU machine: ask for one more GPU than it has
        err = fails(train_cli, [*TINY, '--checkpoints_dir', str(tmp_path), '--device', f'cuda:{torch.cuda.device_count()}'], capsys)
        assert f'only {torch.cuda.device_count()} GPU(s) here' in err
        return
    err = fails(train_cli, [*TINY, '--checkpoints_dir', str(tmp_path), '--device', 'cuda'], capsys)
    assert '--device cuda: no CUDA GPU is visible here' in err and 'use --device cpu' in err, err
    for command in (cli.test_cli, cli.eval_cli):                # the device is checked before the checkpoint is read
        err = fails(command, ['--checkpoint', str(tmp_path / 'run'), '--device', 'cuda'], capsys)
        assert 'no CUDA GPU is visible here' in err, err


def test_resume_on_an_empty_run_folder_starts_there_and_says_so(tmp_path, capsys):
    (tmp_path / 'run').mkdir()
    train_cli([*TINY, '--checkpoints_dir', str(tmp_path), '--name', 'run', '--resume'])
    out = capsys.readouterr().out
    assert f"--resume: {tmp_path / 'run'} holds no checkpoint yet: starting a new run there" in out, out
    assert read_checkpoint(tmp_path / 'run' / 'latest.pth')['total_iters'] == 1


def test_resume_when_no_checkpoint_is_readable(tmp_path, capsys):
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'latest.pth').write_bytes(b'\0' * 100)                # zeroed by a crash
    torch.save({'netG': {}}, run / 'latest.prev.pth')           # a .pth, but not ours
    err = fails(train_cli, [*TINY, '--checkpoints_dir', str(tmp_path), '--name', 'run', '--resume'], capsys)
    assert f'{run}: no readable checkpoint among latest.pth, latest.prev.pth' in err, err
    assert (run / 'latest.pth').read_bytes() == b'\0' * 100      # nothing overwritten


@pytest.mark.parametrize('content, message', [
    (b'not a checkpoint', 'cannot be read as a checkpoint'),
    (None, 'not a pix2pixhd training checkpoint (for the reference'),
])
def test_load_pretrain_from_a_file_that_is_not_a_checkpoint(tmp_path, capsys, content, message):
    f = tmp_path / 'net_G.pth'
    if content is None: torch.save({'model.1.weight': torch.zeros(2)}, f)
    else: f.write_bytes(content)
    err = fails(train_cli, [*TINY, '--checkpoints_dir', str(tmp_path), '--load_pretrain', str(f)], capsys)
    assert f'{f}: ' in err and message in err, err


@pytest.mark.parametrize('size, message', [('8x64', 'size 8x64 is too small: both sides must be at least 16'),
                                           ('256', 'size must look like WIDTHxHEIGHT')])
def test_toydata_size(tmp_path, capsys, size, message):
    err = fails(toydata_cli, ['--out', str(tmp_path / 'd'), '--size', size], capsys)
    assert message in err and not (tmp_path / 'd').exists(), err
