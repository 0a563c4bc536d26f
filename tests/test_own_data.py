"""Your own paired data on the first try (notebook 20): the README's own-data commands run verbatim on generated data,
and what a new user sees when something is off — the layouts mixed up, no VGG weights, images far from loadSize."""
import os, re, shutil, subprocess
from pathlib import Path

import pytest
import torch

from pix2pixhd import losses
from pix2pixhd.cli import train_cli
from pix2pixhd.model import get_options
from pix2pixhd.owndata import write_thermal_pairs
from pix2pixhd.toystreets import write_toystreets
from pix2pixhd.train import Trainer

ROOT = Path(__file__).resolve().parent.parent


def readme_own_data_commands() -> list[str]:
    "The command lines of the README's 'Your own paired data' section, in order."
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    section = text.split('## Your own paired data', 1)[1].split('\n## ', 1)[0]
    return [l.strip() for l in section.splitlines() if l.startswith('pix2pixhd_')]


def run(cmd: str, home: Path, cwd: Path):
    "A command line as a user's shell runs it (`~` is `home`); (exit status, stdout + stderr)."
    env = {**os.environ, 'HOME': str(home), 'PYTHONUNBUFFERED': '1'}
    r = subprocess.run(['bash', '-c', cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_readme_own_data_commands_run_verbatim(tmp_path):
    home = tmp_path / 'home'                           # a fresh HOME: no torch hub cache, so no VGG weights either
    write_thermal_pairs(home / 'data' / 'thermal2rgb', n_train=6, n_test=2, size=(96, 160))
    write_toystreets(home / 'data' / 'streets', n_train=4, n_val=2, size=(64, 128))
    cmds = readme_own_data_commands()
    assert [c.split()[0] for c in cmds] == ['pix2pixhd_train', 'pix2pixhd_test'] * 2, cmds
    for cmd in cmds:
        code, out = run(cmd + (' --max_iters 2 --no_progress' if cmd.startswith('pix2pixhd_train') else ''), home, tmp_path)
        assert code == 0, f"{cmd}\n{out}"
        if cmd.startswith('pix2pixhd_train'):
            assert 'scales it' not in out and 'Traceback' not in out, out     # the data's own size, nothing to say
            name = re.search(r'--name (\w+)', cmd).group(1)
            assert (tmp_path / 'checkpoints' / name / 'latest.pth').is_file()
        else:
            name = re.search(r'checkpoints/(\w+)', cmd).group(1)
            split = 'test' if name == 'thermal' else 'val'                   # write_toystreets writes train and val
            assert f"synthesizing the '{split}' split (no --phase given)" in out, out
            page = (tmp_path / 'results' / name / 'index.html').read_text()
            assert page.count('<tr><td>') == 2 and len(list((tmp_path / 'results' / name / 'images').glob('*.png'))) == 6
    # new frames to translate come without photos: test_A/ alone
    shutil.rmtree(home / 'data' / 'thermal2rgb' / 'test_B')
    code, out = run('pix2pixhd_test --checkpoint checkpoints/thermal --out results/new_frames', home, tmp_path)
    assert code == 0 and "synthesizing the 'test' split" in out, out
    page = (tmp_path / 'results' / 'new_frames' / 'index.html').read_text()
    assert page.count('<tr><td>') == 2 and '<th>real</th>' not in page and '<th>synthesized</th>' in page
    assert sorted(p.name for p in (tmp_path / 'results' / 'new_frames' / 'images').glob('*.png')) == \
        [f'frame_000{i}_{k}.png' for i in (6, 7) for k in ('label', 'synthesized')]


def one_error_line(capsys, argv) -> str:
    "Run pix2pixhd_train in this process; it must exit 2 with exactly one line on stderr, which is returned."
    with pytest.raises(SystemExit) as e: train_cli(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and 'Traceback' not in err, err
    assert err.startswith('pix2pixhd_train: error: ')
    return err


def thermal_argv(root, *extra):
    return ['--dataset_mode', 'folder', '--dataroot', str(root), '--label_nc', '0', '--no_instance', '--resize_or_crop', 'none',
            '--checkpoints_dir', str(root.parent / 'ck'), '--no_progress', *extra]


def test_no_vgg_weights_is_one_line_naming_the_options(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))   # an empty cache ...
    monkeypatch.setattr(losses, '_online', lambda *a, **k: False)              # ... and no network
    root = write_thermal_pairs(tmp_path / 'thermal2rgb', n_train=2, n_test=0, size=(32, 64))
    err = one_error_line(capsys, thermal_argv(root, '--max_iters', '1'))
    assert 'VGG19 ImageNet weights' in err and '--no_vgg_loss' in err and '--vgg_weights' in err and str(tmp_path / 'hub') in err
    err = one_error_line(capsys, thermal_argv(root, '--max_iters', '1', '--vgg_weights', str(tmp_path / 'vgg19.pth')))
    assert f"{tmp_path / 'vgg19.pth'}: no such file" in err and '--no_vgg_loss' in err


def test_layouts_mixed_up_say_what_to_rename(tmp_path, capsys):
    root = write_thermal_pairs(tmp_path / 'thermal2rgb', n_train=2, n_test=0, size=(32, 64))
    (root / 'train_A').rename(root / 'train_label'); (root / 'train_B').rename(root / 'train_img')   # the class-id layout
    err = one_error_line(capsys, thermal_argv(root, '--no_vgg_loss'))
    assert 'train_A: folder not found' in err and 'rename it to train_A/ and train_img/ to train_B/' in err, err
    (root / 'train_label').rename(root / 'train_A'); (root / 'train_img').rename(root / 'train_B')
    argv = thermal_argv(root, '--no_vgg_loss'); argv[argv.index('--label_nc') + 1] = '7'; argv.remove('--no_instance')
    err = one_error_line(capsys, argv)
    assert 'train_label: folder not found' in err and 'set label_nc=0 (--label_nc 0 --no_instance)' in err, err


def test_images_far_from_loadSize_are_announced(tmp_path):
    root = write_thermal_pairs(tmp_path / 'thermal2rgb', n_train=2, n_test=0, size=(96, 160))
    lines = []
    opt = get_options(None, dataset_mode='folder', dataroot=str(root), label_nc=0, no_instance=True, no_vgg_loss=True,
                      checkpoints_dir=str(tmp_path / 'ck'), ngf=8, ndf=8)
    Trainer(opt, device='cpu', progress=False, log=lines.append)
    note, = [l for l in lines if 'scales it' in l]
    assert note == ("train_B/frame_0000.png is 160×96: --resize_or_crop scale_width with --loadSize 1024 scales it 6.4× "
                    "to 1024×614, and the networks run at 1024×608; --resize_or_crop none trains at the data's own size"), note
    lines.clear()
    Trainer(opt.replace(name='own_size', resize_or_crop='none'), device='cpu', progress=False, log=lines.append)
    assert not any('scales it' in l or 'resized to' in l for l in lines), lines
