"""Official pix2pixHD checkpoints load into our networks.

The state dicts here are written from the reference implementation's *layout* (NVIDIA/pix2pixHD,
models/networks.py), enumerated independently of our modules: G is an nn.Sequential `model` indexed layer
by layer (residual blocks hold `conv_block`), the local enhancer adds `model{n}_1` / `model{n}_2`, and the
multi-scale D names its layers `scale{i}_layer{j}` (or `layer{i}` without intermediate features)."""
import pickle

import pytest
import torch

from pix2pixhd.generator import GlobalGenerator, load_checkpoint
from pix2pixhd.enhancer import LocalEnhancer
from pix2pixhd.discriminator import MultiscaleDiscriminator


def _conv(keys, name, cin, cout, k, transposed=False):
    keys[f'{name}.weight'] = (cin, cout, k, k) if transposed else (cout, cin, k, k)
    keys[f'{name}.bias'] = (cout,)


def ref_global_layers(input_nc, output_nc, ngf, n_down, n_blocks, prefix='model'):
    "Keys -> shapes of the reference GlobalGenerator, and its number of layers."
    keys, i = {}, 0
    i += 1; _conv(keys, f'{prefix}.{i}', input_nc, ngf, 7); i += 3          # pad, conv, norm, relu
    for d in range(n_down):
        c = ngf * 2**d; _conv(keys, f'{prefix}.{i}', c, 2 * c, 3); i += 3  # conv, norm, relu
    c = ngf * 2**n_down
    for _ in range(n_blocks):
        _conv(keys, f'{prefix}.{i}.conv_block.1', c, c, 3); _conv(keys, f'{prefix}.{i}.conv_block.5', c, c, 3); i += 1
    for u in range(n_down):
        c = ngf * 2**(n_down - u); _conv(keys, f'{prefix}.{i}', c, c // 2, 3, transposed=True); i += 3
    i += 1; _conv(keys, f'{prefix}.{i}', ngf, output_nc, 7); i += 2          # pad, conv, tanh
    return keys, i


def ref_local_keys(input_nc, output_nc, ngf, n_down, n_blocks, n_local, n_blocks_local):
    keys, n_layers = ref_global_layers(input_nc, output_nc, ngf * 2**n_local, n_down, n_blocks)
    keys = {k: v for k, v in keys.items() if int(k.split('.')[1]) < n_layers - 3}  # last 3 layers dropped
    for n in range(1, n_local + 1):
        c = ngf * 2**(n_local - n)
        _conv(keys, f'model{n}_1.1', input_nc, c, 7); _conv(keys, f'model{n}_1.4', c, 2 * c, 3)
        for b in range(n_blocks_local):
            _conv(keys, f'model{n}_2.{b}.conv_block.1', 2 * c, 2 * c, 3); _conv(keys, f'model{n}_2.{b}.conv_block.5', 2 * c, 2 * c, 3)
        _conv(keys, f'model{n}_2.{n_blocks_local}', 2 * c, c, 3, transposed=True)
        if n == n_local: _conv(keys, f'model{n}_2.{n_blocks_local + 4}', ngf, output_nc, 7)
    return keys


def ref_d_keys(input_nc, ndf, n_layers, num_D, interm=True):
    keys, chans = {}, [input_nc, ndf] + [min(ndf * 2**k, 512) for k in range(1, n_layers + 1)] + [1]
    for i in range(num_D):
        flat = 0
        for j in range(n_layers + 2):
            name = f'scale{i}_layer{j}.0' if interm else f'layer{i}.{flat}'
            _conv(keys, name, chans[j], chans[j + 1], 4)
            flat += 2 if j == 0 else 3                                       # conv, [norm,] lrelu
    return keys


def _random(keys):
    return {k: torch.randn(s) for k, s in keys.items()}


def _save(tmp_path, sd, name):
    p = tmp_path / name
    torch.save(sd, p)
    return p


def test_global_g_checkpoint(tmp_path):
    keys, n_layers = ref_global_layers(36, 3, 8, 4, 9)
    assert n_layers == 40
    sd = _random(keys)
    g = GlobalGenerator(36, 3, 8, 4, 9)
    load_checkpoint(g, _save(tmp_path, sd, 'latest_net_G.pth'))             # strict
    assert torch.equal(g.model[16].conv_block[5].weight, sd['model.16.conv_block.5.weight'])
    assert torch.equal(g.model[38].bias, sd['model.38.bias'])


def test_global_g_full_size_key_layout():
    keys, _ = ref_global_layers(36, 3, 64, 4, 9)
    own = {k: tuple(v.shape) for k, v in GlobalGenerator(36, 3, 64, 4, 9).state_dict().items()}
    assert own == keys
    assert sum(torch.Size(s).numel() for s in keys.values()) == 182_546_755


def test_local_g_checkpoint(tmp_path):
    sd = _random(ref_local_keys(36, 3, 4, 4, 9, 1, 3))
    g = LocalEnhancer(36, 3, 4, 4, 9, 1, 3)
    load_checkpoint(g, _save(tmp_path, sd, 'latest_net_G.pth'))
    assert torch.equal(g.model1_2[7].weight, sd['model1_2.7.weight'])
    own = {k: tuple(v.shape) for k, v in LocalEnhancer(36, 3, 32, 4, 9, 1, 3).state_dict().items()}
    assert own == ref_local_keys(36, 3, 32, 4, 9, 1, 3)
    own3 = {k: tuple(v.shape) for k, v in LocalEnhancer(36, 3, 4, 4, 9, 2, 3).state_dict().items()}
    assert own3 == ref_local_keys(36, 3, 4, 4, 9, 2, 3)


def test_global_checkpoint_into_local_enhancer(tmp_path):
    "The 512p -> 1024p step from files: a global G's checkpoint initialises a local G's global part."
    keys, _ = ref_global_layers(36, 3, 16, 4, 9)
    sd = _random(keys)
    g = LocalEnhancer(36, 3, 8, 4, 9, 1, 3)
    fresh = g.load_pretrained(_save(tmp_path, sd, 'latest_net_G.pth'))
    assert all(k.startswith('model1_') for k in fresh)
    assert torch.equal(g.model[34].weight, sd['model.34.weight'])


@pytest.mark.parametrize('interm', [True, False])
def test_d_checkpoint(tmp_path, interm):
    keys = ref_d_keys(39, 64, 3, 3, interm)
    own = {k: tuple(v.shape) for k, v in MultiscaleDiscriminator(39, 64, 3, 3, get_interm_feat=interm).state_dict().items()}
    assert own == keys
    sd = _random(ref_d_keys(9, 8, 3, 3, interm))
    D = MultiscaleDiscriminator(9, 8, 3, 3, get_interm_feat=interm)
    load_checkpoint(D, _save(tmp_path, sd, 'latest_net_D.pth'))
    # the reference applies scale{num_D-1} to the full-resolution input, scale{num_D-2} to it average-pooled once: so do we
    x = torch.randn(1, 9, 64, 64)
    with torch.no_grad():
        out = D(x)
    half = torch.nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    for scale, inp, pred in ((2, x, out[0]), (1, half, out[1])):
        assert torch.allclose(pred[-1], _reference_d(sd, scale, inp, 3, interm), atol=1e-4)   # the prediction, by hand
    if interm: assert len(out[0]) == 5 and torch.allclose(out[0][0], _reference_d(sd, 2, x, 3, interm, upto=1), atol=1e-5)


def _reference_d(sd, scale, x, n_layers, interm, upto=None):
    "The reference's NLayerDiscriminator (instance norm, LSGAN: no sigmoid) computed by hand from its state dict."
    F, flat = torch.nn.functional, 0
    for j in range(n_layers + 2 if upto is None else upto):
        name = f'scale{scale}_layer{j}.0' if interm else f'layer{scale}.{flat}'
        x = F.conv2d(x, sd[name + '.weight'], sd[name + '.bias'], stride=2 if j < n_layers else 1, padding=2)
        if 0 < j <= n_layers: x = F.instance_norm(x)
        if j <= n_layers: x = F.leaky_relu(x, 0.2)
        flat += 2 if j == 0 else 3
    return x


def test_module_prefix_and_weights_only(tmp_path):
    keys, _ = ref_global_layers(3, 3, 4, 2, 1)
    sd = {'module.' + k: v for k, v in _random(keys).items()}                # saved from DataParallel
    g = GlobalGenerator(3, 3, 4, 2, 1)
    load_checkpoint(g, _save(tmp_path, sd, 'g.pth'))
    p = tmp_path / 'evil.pth'
    torch.save({'model.1.weight': _Evil()}, p)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(g, p)


class _Evil:
    "Any non-tensor object in a checkpoint: weights_only=True refuses to unpickle it."
    pass
