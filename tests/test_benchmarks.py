"""benchmarks/train_step.py beside the official code: the `official` setting imports `models/networks.py` from the
checkout PIX2PIXHD_REF names, joins every round and becomes the baseline of the ratios; without a checkout it fails
before timing anything. The official code itself is not part of this repository, so the checkout here is a stand-in
with the same interface (`define_G`, `define_D`, `GANLoss`), small networks, and a marker that proves it was used."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'benchmarks' / 'train_step.py'

STAND_IN = '''
import torch, torch.nn as nn
from pathlib import Path
USED = Path(__file__).with_name('used')

class _D(nn.Module):
    def __init__(self, input_nc, num_D):
        super().__init__()
        self.nets = nn.ModuleList(nn.Sequential(nn.Conv2d(input_nc, 4, 3, padding=1), nn.Conv2d(4, 1, 3, padding=1)) for _ in range(num_D))
    def forward(self, x):
        out = []
        for net in self.nets:
            f = net[0](x); out.append([f, net[1](f)]); x = nn.functional.avg_pool2d(x, 2)
        return out

def define_G(input_nc, output_nc, ngf, netG, *args, **kwargs):
    USED.write_text('define_G')
    return nn.Sequential(nn.Conv2d(input_nc, output_nc, 3, padding=1), nn.Tanh())

def define_D(input_nc, ndf, n_layers_D, norm='instance', use_sigmoid=False, num_D=1, getIntermFeat=False, gpu_ids=[]):
    print('a whole network printed, as the official code does')
    return _D(input_nc, num_D)

class GANLoss(nn.Module):
    def __init__(self, use_lsgan=True, tensor=torch.FloatTensor):
        super().__init__(); self.Tensor = tensor
    def __call__(self, input, target_is_real):
        return sum(((p[-1] - self.Tensor(p[-1].size()).fill_(float(target_is_real))) ** 2).mean() for p in input)
'''


def run(*args, env=None):
    r = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                       env={**os.environ, **(env or {})}, cwd=ROOT)
    return r.returncode, r.stdout + r.stderr


def test_official_setting_needs_a_checkout(tmp_path):
    env = {'PIX2PIXHD_REF': str(tmp_path / 'nowhere')}
    code, out = run('--configs', 'toy', '--settings', 'official', 'fp32', env=env)
    assert code != 0 and "needs PIX2PIXHD_REF set to a checkout of github.com/NVIDIA/pix2pixHD" in out, out
    assert 's/iteration' not in out                                   # nothing was timed


def test_official_setting_times_the_checkout_and_is_the_baseline(tmp_path):
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / 'networks.py').write_text(STAND_IN)
    code, out = run('--configs', 'toy', '--settings', 'ref', 'official', '--rounds', '2', '--steps', '1', '--warmup', '0',
                    '--threads', '1', env={'PIX2PIXHD_REF': str(tmp_path)})
    assert code == 0, out
    assert (tmp_path / 'models' / 'used').read_text() == 'define_G'     # its define_G built the generator
    for rnd in (0, 1): assert f"round {rnd}: toy          official" in out, out   # in every round
    rows = {l.split('|')[2].strip(): l for l in out.splitlines() if l.startswith('| `toy`')}
    assert 'official code (its networks and iteration, fp32)' in rows, out
    assert '| 1.00× [1.00–1.00] |' in rows['official code (its networks and iteration, fp32)']   # the baseline
    assert '| 1.00×' not in rows['reference iteration, here (fp32)']   # ref is now compared with it


def test_norm_layout_candidates_normalise_as_instance_norm_does(tmp_path):
    "benchmarks/norm_layout.py: each layout-keeping instance norm gives nn.InstanceNorm2d's output, in the layout it was given."
    import importlib.util, torch
    spec = importlib.util.spec_from_file_location('norm_layout', ROOT / 'benchmarks' / 'norm_layout.py')
    nl = importlib.util.module_from_spec(spec); spec.loader.exec_module(nl)
    x = (torch.randn(2, 5, 12, 20) * 3 + 1).contiguous(memory_format=torch.channels_last)
    want = torch.nn.InstanceNorm2d(5)(x)
    assert not want.is_contiguous(memory_format=torch.channels_last)          # why the benchmark exists
    for norm in (nl.VarMeanInstanceNorm(5), nl.GroupNormInstanceNorm(5)):
        got = norm(x)
        assert got.is_contiguous(memory_format=torch.channels_last), type(norm).__name__
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    out = tmp_path / 'rows.jsonl'
    r = subprocess.run([sys.executable, 'benchmarks/norm_layout.py', '--size', '64', '32', '--ngf', '8', '--rounds', '2',
                        '--out', str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    import json
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r['layout'] for r in rows] == ['nchw', 'cl, stock IN', 'cl, var_mean IN', 'cl, group_norm IN']
    assert all(r['fp32_max_diff'] < 1e-3 and r['s'] > 0 for r in rows), rows    # same generator output in every layout
