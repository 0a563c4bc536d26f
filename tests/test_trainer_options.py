"Every trainer option run through the Trainer at a tiny size on the CPU, each checked for what it promises."
import json, subprocess, sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pix2pixhd.cli import train_cli
from pix2pixhd.model import get_options
from pix2pixhd.train import Trainer, make_dataset, read_checkpoint, resolve_precision

SMALL = dict(ngf=8, ndf=8, n_downsample_global=2, n_blocks_global=2, loadSize=64, toy_n=4, batchSize=2, nThreads=0,
             max_iters=2, print_freq=0)
quiet = dict(device='cpu', progress=False, log=lambda m: None)


def trainer(tmp_path, name='run', preset='toy', **changes):
    "A Trainer of a tiny toy run, ready to `step` (epoch 1's learning rate and wrappers set)."
    tr = Trainer(get_options(preset, checkpoints_dir=str(tmp_path), name=name, **{**SMALL, **changes}), **quiet)
    tr._set_phase(0)
    return tr


def first_batch(tr):
    return next(iter(tr.loader(0)))


def step_with_grads(tr, batch):
    "One training step of `tr` on `batch`: its losses and the gradients it left on G and D (taken before the update)."
    grads = {}
    def keep(net, k):
        for n, p in getattr(tr.model, net).named_parameters():
            if p.grad is not None: grads[f'{k}.{n}'] = p.grad.detach().clone()
    steps = [o.step for o in (tr.optimizer_G, tr.optimizer_D)]
    tr.optimizer_G.step = lambda *a, **k: (keep('netG', 'G'), steps[0](*a, **k))[1]
    tr.optimizer_D.step = lambda *a, **k: (keep('netD', 'D'), steps[1](*a, **k))[1]
    losses, _ = tr.step(batch)
    return losses, grads


def seen_inside_G(tr, batch):
    "What G's convolutions see during a training step: autocast on?, its dtype, the first conv's output dtype and memory format."
    seen = {}
    conv = next(m for m in tr.model.netG.modules() if isinstance(m, torch.nn.Conv2d))
    def hook(m, inp, out):
        seen.update(autocast=torch.is_autocast_enabled('cpu'), autocast_dtype=torch.get_autocast_dtype('cpu'), dtype=out.dtype,
                    channels_last=out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous())
    h = conv.register_forward_hook(hook)
    losses, _ = tr.step(batch)
    h.remove()
    return seen, losses


@pytest.mark.parametrize('precision, dtype', [('bf16', torch.bfloat16), ('fp16', torch.float16)])
def test_reduced_precision_runs_G_in_that_dtype(tmp_path, precision, dtype):
    tr = trainer(tmp_path, precision=precision)
    seen, losses = seen_inside_G(tr, first_batch(tr))
    assert seen['autocast'] and seen['autocast_dtype'] == dtype and seen['dtype'] == dtype, seen
    assert all(np.isfinite(v) for v in losses.values())
    assert (tr.scaler is not None) == (precision == 'fp16')            # fp16 scales its losses; bf16 needs no scaler
    if tr.scaler is not None:
        scale = tr.scaler.get_scale()
        tr.save()
        assert read_checkpoint(tr.run_dir / 'latest.pth')['scaler']['scale'] == scale   # resume keeps the loss scale


def test_auto_precision_picks_by_what_the_cpu_and_gpu_have(tmp_path, monkeypatch):
    from pix2pixhd import layers
    monkeypatch.setattr(layers, 'cpu_has_bf16', lambda: False)       # a CPU without bf16 in hardware: fp32
    tr = trainer(tmp_path, name='a', precision='auto')
    seen, _ = seen_inside_G(tr, first_batch(tr))
    assert tr.precision == 'fp32' and not seen['autocast'] and seen['dtype'] == torch.float32
    monkeypatch.setattr(layers, 'cpu_has_bf16', lambda: True)        # AVX512-BF16 / AMX / Arm BF16: bf16 autocast
    tr = trainer(tmp_path, name='b', precision='auto')
    seen, _ = seen_inside_G(tr, first_batch(tr))
    assert tr.precision == 'bf16' and seen['autocast'] and seen['dtype'] == torch.bfloat16 and tr.scaler is None
    for bf16, expected in ((True, 'bf16'), (False, 'fp16')):           # what a GPU with / without bf16 would get
        monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, b=bf16, **k: b)
        assert resolve_precision('auto', torch.device('cuda')) == expected


def saved_bytes(tr, batch):
    "Bytes of the tensors G's forward keeps for its backward (what activation checkpointing is meant to cut)."
    total = [0]
    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        tr.model.netG(tr.model.encode_input(batch)[0]).sum().backward()
    tr.model.netG.zero_grad(set_to_none=True)
    return total[0]


def test_checkpoint_activations_same_losses_and_gradients_less_memory(tmp_path):
    plain, ckpt = trainer(tmp_path, 'plain'), trainer(tmp_path, 'ckpt', checkpoint_activations=True)
    batch = first_batch(plain)
    assert torch.equal(batch['label'], first_batch(ckpt)['label'])
    mem_plain, mem_ckpt = saved_bytes(plain, batch), saved_bytes(ckpt, batch)
    assert mem_ckpt < 0.8 * mem_plain, (mem_ckpt, mem_plain)
    (lp, gp), (lc, gc) = step_with_grads(plain, batch), step_with_grads(ckpt, batch)
    assert lp.keys() == lc.keys() and all(abs(lp[k] - lc[k]) <= 1e-5 * max(1, abs(lp[k])) for k in lp), (lp, lc)
    assert gp.keys() == gc.keys() and any(k.startswith('G.') for k in gp)
    for k in gp: torch.testing.assert_close(gc[k], gp[k], rtol=1e-4, atol=1e-6, msg=k)


def test_channels_last_keeps_losses_and_runs_channels_last(tmp_path):
    plain, cl = trainer(tmp_path, 'plain'), trainer(tmp_path, 'cl', channels_last=True)
    w = next(p for p in cl.model.netG.parameters() if p.dim() == 4)
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    batch = first_batch(plain)
    (seen_p, lp), (seen_c, lc) = seen_inside_G(plain, batch), seen_inside_G(cl, batch)
    assert seen_c['channels_last'] and not seen_p['channels_last']
    assert all(abs(lp[k] - lc[k]) <= 1e-4 * max(1, abs(lp[k])) for k in lp), (lp, lc)


def test_compile_gives_the_same_losses(tmp_path):
    pytest.importorskip('torch._inductor')
    small = dict(n_blocks_global=1, num_D=1)                           # inductor's compile time grows with the graph
    plain, comp = trainer(tmp_path, 'plain', **small), trainer(tmp_path, 'comp', compile=True, **small)
    assert set(comp.model._runners) == {'G', 'D', 'D_frozen'} and all(hasattr(r, '_orig_mod') for r in comp.model._runners.values())
    assert comp.model._runners['D_frozen'] is comp.model._runners['D']  # G's pass through D compiled too (one process: no DDP)
    batch = first_batch(plain)
    for _ in range(2):                                                  # the second step runs the compiled graphs
        lp, lc = plain.step(batch)[0], comp.step(batch)[0]
        assert all(abs(lp[k] - lc[k]) <= 1e-3 * max(1, abs(lp[k])) for k in lp), (lp, lc)


def test_device_option_puts_everything_there(tmp_path):
    tr = trainer(tmp_path)
    tr2 = Trainer(tr.opt.replace(name='cpu'), **quiet)                  # quiet names device='cpu'
    assert tr2.device == torch.device('cpu') and {p.device.type for p in tr2.model.parameters()} == {'cpu'}


def test_no_lsgan_is_the_vanilla_gan_loss(tmp_path):
    tr = trainer(tmp_path, no_lsgan=True)
    assert tr.model.criterionGAN.mode == 'vanilla'
    cond, real, fake = tr.model.generate(first_batch(tr))
    pred = tr.model.netD(torch.cat([cond, real], 1))
    by_hand = sum(F.binary_cross_entropy_with_logits(p[-1], torch.ones_like(p[-1])) for p in pred)
    _, losses, _ = tr.model.discriminator_loss(cond, fake, real)
    torch.testing.assert_close(losses['D_real'], by_hand)
    assert not torch.allclose(by_hand, sum(F.mse_loss(p[-1], torch.ones_like(p[-1])) for p in pred))


def test_compute_losses_matches_what_train_step_trains(tmp_path):
    "train_step's split backward (one G forward, D's graph freed early) gives compute_losses' losses and gradients."
    tr = trainer(tmp_path)
    batch = first_batch(tr)
    m = tr.model
    torch.manual_seed(3); loss_G, loss_D, parts, _ = m.compute_losses(batch)
    g_G = torch.autograd.grad(loss_G, list(m.netG.parameters()), retain_graph=True)
    g_D = torch.autograd.grad(loss_D, list(m.netD.parameters()))
    torch.manual_seed(3); losses, grads = step_with_grads(tr, batch)
    assert losses.keys() == parts.keys() and all(abs(losses[k] - parts[k].item()) < 1e-5 for k in losses)
    for (n, _), g in zip(m.netG.named_parameters(), g_G): torch.testing.assert_close(grads[f'G.{n}'], g, msg=n)
    for (n, _), g in zip(m.netD.named_parameters(), g_D): torch.testing.assert_close(grads[f'D.{n}'], g, msg=n)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "Eight 96×48 photos and label maps of two halves, written in every layout the trainer reads."
    root = tmp_path_factory.mktemp('layouts')
    rng = np.random.default_rng(0)
    save = lambda a, p: (p.parent.mkdir(parents=True, exist_ok=True), Image.fromarray(a).save(p))
    for i in range(8):
        photo = rng.integers(0, 255, (48, 96, 3), dtype=np.uint8)
        label = np.zeros((48, 96), np.uint8); label[:, 48:] = 7 + i % 3
        inst = label.astype(np.uint16) * 1000 + 1
        save(photo, root / f'folder/train_img/{i}.png'); save(label, root / f'folder/train_label/{i}.png')
        save(inst, root / f'folder/train_inst/{i}.png')
        save(photo, root / f'rgb/train_B/{i}.png'); save(np.stack([label * 20] * 3, -1), root / f'rgb/train_A/{i}.png')
        save(np.concatenate([np.stack([label * 20] * 3, -1), photo], 1), root / f'aligned/train/{i}.png')
        base = f'cs/gtFine/train/aachen/aachen_{i:06d}_000019'
        save(label, root / f'{base}_gtFine_labelIds.png'); save(inst, root / f'{base}_gtFine_instanceIds.png')
        save(photo, root / f'cs/leftImg8bit/train/aachen/aachen_{i:06d}_000019_leftImg8bit.png')
    return root


@pytest.mark.parametrize('mode, root, args, keys', [
    ('folder', 'folder', ['--label_nc', '10'], {'label', 'inst', 'image'}),
    ('folder', 'rgb', ['--label_nc', '0', '--no_instance'], {'label', 'image'}),         # README's thermal command
    ('cityscapes', 'cs', ['--label_nc', '35'], {'label', 'inst', 'image'}),
    ('aligned', 'aligned', ['--label_nc', '0', '--no_instance'], {'label', 'image'}),
])
def test_data_modes_give_items_and_train(tmp_path, photos, capsys, mode, root, args, keys):
    argv = ['--dataset_mode', mode, '--dataroot', str(photos / root), *args, '--ngf', '8', '--ndf', '8',
            '--n_downsample_global', '2', '--n_blocks_global', '1', '--loadSize', '64', '--batchSize', '2', '--nThreads', '0',
            '--no_vgg_loss', '--max_iters', '1', '--no_progress', '--checkpoints_dir', str(tmp_path), '--name', mode]
    from pix2pixhd.cli import parse_options
    item = make_dataset(parse_options(argv)[0])[0]
    assert keys <= set(item), set(item)
    assert item['image'].shape == (3, 32, 64)                             # 96×48 scaled to width 64
    rgb = '--label_nc' in argv and argv[argv.index('--label_nc') + 1] == '0'
    assert item['label'].shape == ((3, 32, 64) if rgb else (32, 64)) and item['label'].dtype == (torch.float32 if rgb else torch.long)
    train_cli(argv)
    ck = read_checkpoint(tmp_path / mode / 'latest.pth')
    assert ck['total_iters'] == 1 and ck['options']['dataset_mode'] == mode


@pytest.mark.parametrize('mode, size', [('scale_width', (32, 64)), ('resize', (64, 64)), ('scale_width_and_crop', (32, 32)),
                                        ('resize_and_crop', (32, 32)), ('crop', (32, 32)), ('none', (48, 96))])
def test_resize_or_crop_sizes(photos, mode, size):
    opt = get_options(None, dataset_mode='folder', dataroot=str(photos / 'folder'), label_nc=10, loadSize=64, fineSize=32,
                      resize_or_crop=mode, n_downsample_global=2)
    ds = make_dataset(opt)
    item = ds[0]
    assert item['image'].shape[-2:] == size and item['label'].shape[-2:] == size and item['inst'].shape[-2:] == size, mode


def test_no_flip_never_flips(photos):
    from pix2pixhd.train import SeededItems
    opt = get_options(None, dataset_mode='folder', dataroot=str(photos / 'folder'), label_nc=10, loadSize=64)
    unflipped = make_dataset(opt.replace(no_flip=True))[0]['image']
    flipping, fixed = SeededItems(make_dataset(opt)), SeededItems(make_dataset(opt.replace(no_flip=True)))
    seen = [flipping[(e, 0)]['image'] for e in range(12)]                 # item 0 in 12 epochs
    assert all(torch.equal(x, unflipped) or torch.equal(x, unflipped.flip(-1)) for x in seen)
    flipped = [torch.equal(x, unflipped.flip(-1)) for x in seen]
    assert any(flipped) and not all(flipped)                              # flipped in some epochs, not all
    assert all(torch.equal(fixed[(e, 0)]['image'], unflipped) for e in range(12))


def test_progress_bar_shows_iterations_and_losses(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: True)             # a terminal
    step = Trainer.step
    monkeypatch.setattr(Trainer, 'step', lambda self, b: (__import__('time').sleep(0.15), step(self, b))[1])   # past tqdm's 0.1 s refresh
    opt = get_options('toy', checkpoints_dir=str(tmp_path), name='bar', **{**SMALL, 'max_iters': 3, 'toy_n': 6})
    Trainer(opt, device='cpu', progress=True, log=lambda m: None).fit()
    err = capsys.readouterr().err
    assert 'epoch 1' in err and '3/3' in err and 'G_GAN=' in err and 'D_real=' in err and 'it/s' in err, err[-500:]


def test_tf_log_writes_losses_and_sample_grids(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator   # in the dev extra
    tr = trainer(tmp_path, tf_log=True, display_freq=2).fit()
    events = EventAccumulator(str(tr.run_dir / 'tensorboard')).Reload()
    assert [e.step for e in events.Scalars('loss/G_GAN')] == [1, 2] and 'loss/D_fake' in events.Tags()['scalars']
    assert [e.step for e in events.Images('samples')] == [2]


def test_tf_log_without_tensorboard_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'torch.utils.tensorboard', None)     # as if TensorBoard were not installed
    with pytest.raises(SystemExit) as e:
        train_cli(['--preset', 'toy', '--toy_n', '4', '--checkpoints_dir', str(tmp_path), '--tf_log', '--no_progress'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'tf_log needs TensorBoard: pip install tensorboard' in err, err


def test_torchrun_module_entry_point(tmp_path):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '-m', 'pix2pixhd.train',
           '--preset', 'toy', '--ngf', '8', '--ndf', '8', '--n_downsample_global', '2', '--n_blocks_global', '1', '--loadSize', '64',
           '--toy_n', '8', '--batchSize', '2', '--nThreads', '0', '--max_iters', '2', '--no_progress',
           '--checkpoints_dir', str(tmp_path), '--name', 'ddp', '--device', 'cpu']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    ck = read_checkpoint(tmp_path / 'ddp' / 'latest.pth')
    assert ck['world_size'] == 2 and ck['total_iters'] == 2
    assert len((tmp_path / 'ddp' / 'loss_log.jsonl').read_text().splitlines()) == 2       # rank 0 alone logs
    assert json.loads((tmp_path / 'ddp' / 'opt.json').read_text())['batchSize'] == 2


def test_auto_precision_follows_what_the_device_has(monkeypatch):
    from pix2pixhd.train import resolve_precision
    gpu = torch.device('cuda', 0)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda including_emulation=True: including_emulation)
    assert resolve_precision('auto', gpu) == 'fp16'              # V100, T4: bf16 only emulated (slow) -> fp16 + GradScaler
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda including_emulation=True: True)
    assert resolve_precision('auto', gpu) == 'bf16'              # A100, H100, H200: bf16 in hardware
    assert resolve_precision('fp16', gpu) == 'fp16'


def test_an_explicit_gpu_under_torchrun_is_refused(monkeypatch):
    from pix2pixhd.train import init_distributed
    for k, v in (('WORLD_SIZE', '2'), ('RANK', '1'), ('LOCAL_RANK', '1')): monkeypatch.setenv(k, v)
    with pytest.raises(ValueError, match='would put all 2 processes on one GPU: each takes the GPU of its LOCAL_RANK'):
        init_distributed('cuda:0')


def test_the_log_shows_how_long_the_run_waits_for_data(tmp_path):
    import time

    class SlowItems(torch.utils.data.Dataset):          # a loader that cannot keep up: 0.2 s per item
        def __init__(self, ds): self.ds = ds
        def __len__(self): return len(self.ds)
        def __getitem__(self, i): time.sleep(0.2); return self.ds[i]

    lines = []
    opt = get_options('toy', checkpoints_dir=str(tmp_path), name='wait', **{**SMALL, 'max_iters': 4, 'print_freq': 2})
    tr = Trainer(opt, device='cpu', progress=False, log=lines.append)
    tr.dataset = SlowItems(tr.dataset)
    tr.fit()
    log = [json.loads(line) for line in open(tmp_path / 'wait' / 'loss_log.jsonl')]
    assert all(0.4 <= r['data_s'] <= r['secs'] for r in log), log            # 2 items of 0.2 s per batch, inside the iteration
    shares = [float(l.rsplit('waiting for data ', 1)[1].rstrip('%')) for l in lines if 'waiting for data' in l]
    assert len(shares) == 2 and all(s >= 50 for s in shares), lines
    Trainer(opt.replace(name='fast'), device='cpu', progress=False, log=lines.append).fit()
    fast_log = [json.loads(line) for line in open(tmp_path / 'fast' / 'loss_log.jsonl')]
    assert all(r['data_s'] < 0.2 for r in fast_log), fast_log                  # the same data, rendered without the sleep
