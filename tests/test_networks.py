"pix2pixHD's networks and losses (notebooks 03-08): sizes, shapes, losses, coarse-to-fine loading, bad input."
import pytest
import torch
import torch.nn.functional as F

from pix2pixhd.generator import GlobalGenerator, ResnetBlock
from pix2pixhd.pix2pix import n_params
from pix2pixhd.enhancer import LocalEnhancer, downsample
from pix2pixhd.discriminator import MultiscaleDiscriminator, NLayerDiscriminator, scale_receptive_fields
import pix2pixhd.losses as losses
from pix2pixhd.losses import GANLoss, FeatureMatchingLoss, VGGLoss, VGG19Features


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- exact sizes (counting needs no forward pass) ---------------------------------------------------------

def test_global_generator_parameter_counts():
    assert n_params(GlobalGenerator(36, 3, 64, 4, 9)) == 182_546_755
    assert n_params(GlobalGenerator(9, 3, 64, 4, 9)) == 182_462_083


def test_local_enhancer_parameter_counts():
    g = LocalEnhancer(36, 3, 32, 4, 9, 1, 3)
    assert n_params(g) == 182_857_059
    assert n_params(g.model) == 182_537_344
    assert n_params(g.model1_1) + n_params(g.model1_2) == 319_715


def test_multiscale_discriminator_parameter_counts():
    assert n_params(MultiscaleDiscriminator(39, 64, 3, num_D=3)) == 8_404_803
    assert n_params(MultiscaleDiscriminator(39, 64, 3, num_D=2)) == 5_603_202


def test_instance_norm_has_no_parameters():
    g = GlobalGenerator(3, 3, 8, 2, 1)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)


# --- output shapes at 256x128 and 512x1024 -------------------------------------------------------------------

@torch.no_grad()
def test_global_generator_shapes():
    g = GlobalGenerator(36, 3, 64, 4, 9).eval()                       # full size on a small input
    assert g(torch.randn(1, 36, 128, 256)).shape == (1, 3, 128, 256)
    narrow = GlobalGenerator(36, 3, 8, 4, 9)                           # same structure, narrow
    x = torch.randn(1, 36, 512, 1024)
    y = narrow(x)
    assert y.shape == (1, 3, 512, 1024)
    x2 = x.clone(); x2[..., :64, :64] = 0                              # change one corner of the input
    assert (narrow(x2) - y)[..., :64, :64].abs().max() > 1e-3         # the output follows the input


@torch.no_grad()
def test_local_enhancer_shapes():
    assert LocalEnhancer(36, 3, 32, 4, 9, 1, 3)(torch.randn(1, 36, 128, 256)).shape == (1, 3, 128, 256)
    assert LocalEnhancer(36, 3, 4, 4, 9, 1, 3)(torch.randn(1, 36, 512, 1024)).shape == (1, 3, 512, 1024)
    assert LocalEnhancer(36, 3, 4, 4, 9, 2, 3)(torch.randn(1, 36, 256, 512)).shape == (1, 3, 256, 512)  # G3
    assert LocalEnhancer(5, 3, 4, 2, 1, 3, 1)(torch.randn(1, 5, 64, 64)).shape == (1, 3, 64, 64)        # G4


@torch.no_grad()
def test_multiscale_discriminator_shapes():
    D = MultiscaleDiscriminator(39, 64, 3, num_D=3)
    for H, W in ((128, 256), (512, 1024)):
        out = D(torch.randn(1, 39, H, W))
        assert [len(f) for f in out] == [5, 5, 5]
        assert [tuple(f[0].shape) for f in out] == [(1, 64, H // 2**k // 2 + 1, W // 2**k // 2 + 1) for k in range(3)]
        assert all(f[-1].shape[1] == 1 for f in out)
    flat = MultiscaleDiscriminator(39, 16, 3, num_D=2, get_interm_feat=False)(torch.randn(1, 39, 128, 256))
    assert [len(f) for f in flat] == [1, 1]


def test_discriminator_padding_and_receptive_field():
    d = NLayerDiscriminator(3, 8, 3)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.padding for c in convs] == [(2, 2)] * 5 and [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert [c.out_channels for c in NLayerDiscriminator(3, 64, 3).modules() if isinstance(c, torch.nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert not isinstance(d.model0[1], torch.nn.InstanceNorm2d)    # no norm on the first layer
    assert scale_receptive_fields(3, 3) == [70, 141, 283]


# --- bad input -----------------------------------------------------------------------------------------------

def test_bad_sizes_and_arguments():
    with pytest.raises(ValueError, match='divisible by 16'):
        GlobalGenerator(3, 3, 4, 4, 1)(torch.randn(1, 3, 40, 64))
    with pytest.raises(ValueError, match='divisible by 32'):
        LocalEnhancer(3, 3, 4, 4, 1)(torch.randn(1, 3, 48, 64))
    with pytest.raises(ValueError, match='n_local_enhancers'):
        LocalEnhancer(3, 3, n_local_enhancers=0)
    with pytest.raises(ValueError, match='padding_type'):
        ResnetBlock(4, padding_type='circular')
    with pytest.raises(ValueError):
        GlobalGenerator(3, 3, 4, 2, 1, norm='group')


def test_residual_block_is_identity_with_zero_convs():
    blk = ResnetBlock(4)
    for p in blk.parameters(): torch.nn.init.zeros_(p)
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(blk(x), x)


# --- losses ---------------------------------------------------------------------------------------------------

def _d_outputs(D, x, s):
    return D(torch.cat([s, x], 1))


def test_gan_loss_is_pix2pix_one_and_sums_over_scales():
    from pix2pixhd.pix2pix import GANLoss as G0
    assert GANLoss is G0
    D = MultiscaleDiscriminator(6, 8, 3, num_D=3)
    out = D(torch.randn(2, 6, 64, 64))
    for mode in ('lsgan', 'vanilla', 'hinge'):
        l = GANLoss(mode)(out, True)
        per = sum(GANLoss(mode)(o[-1], True) for o in out)
        assert torch.allclose(l, per)
    perfect = [[torch.ones(1, 1, 3, 3)], [torch.ones(1, 1, 2, 2)]]
    assert GANLoss('lsgan')(perfect, True) == 0
    assert GANLoss('lsgan')([[torch.zeros(1, 1, 3, 3)]], False) == 0


def test_one_generator_step_is_differentiable():
    G = GlobalGenerator(4, 3, 8, 2, 1)
    D = MultiscaleDiscriminator(7, 8, 3, num_D=2)
    s, x = torch.randn(2, 4, 32, 32), torch.rand(2, 3, 32, 32) * 2 - 1
    fake = G(s)
    pred_real, pred_fake = D(torch.cat([s, x], 1)), D(torch.cat([s, fake], 1))
    vgg = VGGLoss(weights=None)
    loss = GANLoss('lsgan')(pred_fake, True, for_discriminator=False) + FeatureMatchingLoss()(pred_fake, pred_real) + vgg(fake, x)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    assert all(p.grad is None for p in vgg.parameters())


def test_feature_matching_zero_on_identical_and_weights():
    D = MultiscaleDiscriminator(6, 8, 3, num_D=3)
    a, b = torch.randn(1, 6, 64, 64), torch.randn(1, 6, 64, 64)
    pa, pb = D(a), D(b)
    assert FeatureMatchingLoss()(pa, pa) == 0
    expected = sum(10 * (4 / 4) * (1 / 3) * F.l1_loss(x, y) for fa, fb in zip(pa, pb) for x, y in zip(fa[:-1], fb[:-1]))
    assert torch.allclose(FeatureMatchingLoss()(pa, pb), expected)
    # n_layers=2: 3 intermediate features, weight 4/3
    D2 = MultiscaleDiscriminator(6, 8, 2, num_D=1)
    qa, qb = D2(a), D2(b)
    assert torch.allclose(FeatureMatchingLoss(1.0)(qa, qb), sum(4 / 3 * F.l1_loss(x, y) for x, y in zip(qa[0][:-1], qb[0][:-1])))
    with pytest.raises(ValueError, match='get_interm_feat'):
        FeatureMatchingLoss()(MultiscaleDiscriminator(6, 8, 3, get_interm_feat=False)(a), pa)


def test_feature_matching_detaches_real():
    D = MultiscaleDiscriminator(6, 8, 3, num_D=2)
    r = torch.randn(1, 6, 32, 32, requires_grad=True)
    f = torch.randn(1, 6, 32, 32, requires_grad=True)
    FeatureMatchingLoss()(D(f), D(r)).backward()
    assert r.grad is None and f.grad.abs().sum() > 0


def test_vgg_loss_random_weights():
    vgg = VGGLoss(weights=None)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(x, x) == 0
    assert [f.shape[1] for f in vgg.vgg(x)] == [64, 128, 256, 512, 512]
    assert not any(p.requires_grad for p in vgg.parameters())


def test_vgg_offline_fails_fast_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))       # an empty cache
    def no_network(*a, **k): raise AssertionError('network touched')
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', no_network)
    with pytest.raises(RuntimeError, match='weights_path=') as e:
        VGGLoss(download=False)
    assert 'lambda_vgg=0' in str(e.value)
    monkeypatch.setattr(losses, '_online', lambda *a, **k: False)         # as if offline
    with pytest.raises(RuntimeError, match='cannot be reached'):
        VGGLoss()


def test_vgg_loads_torchvision_layout_from_file_and_cache(tmp_path, monkeypatch):
    import torchvision
    tv = torchvision.models.vgg19(weights=None)
    sd = tv.state_dict()
    torch.save(sd, tmp_path / 'my_vgg.pth')
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = tv.features[:30](x)
        assert torch.allclose(VGG19Features(weights_path=tmp_path / 'my_vgg.pth')(x)[-1], ref)
        (tmp_path / 'checkpoints').mkdir()
        torch.save(sd, tmp_path / 'checkpoints' / 'vgg19-dcbb9e9d.pth')
        monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
        monkeypatch.setattr(losses, '_online', lambda *a, **k: pytest.fail('network probed'))
        assert torch.allclose(VGG19Features()(x)[-1], ref)          # from the cache, no network


# --- coarse-to-fine loading: 512p -> 1024p --------------------------------------------------------------------

def test_global_generator_loads_into_local_enhancer():
    g1 = GlobalGenerator(36, 3, 16, 4, 2)
    g2 = LocalEnhancer(36, 3, 8, 4, 2, 1, 1)
    fresh = g2.load_pretrained(g1)
    assert fresh and all(k.startswith('model1_') for k in fresh)
    x = torch.randn(1, 36, 64, 64)
    with torch.no_grad():
        assert torch.allclose(g2.model(downsample(x)), g1.model[:-3](downsample(x)))
    with pytest.raises(ValueError):
        g2.load_pretrained(GlobalGenerator(36, 3, 8, 4, 2))      # wrong width
    g3 = LocalEnhancer(36, 3, 4, 4, 2, 2, 1)
    assert {k.split('.')[0] for k in g3.load_pretrained(g2)} == {'model2_1', 'model2_2'}


def test_discriminator_num_D_2_loads_into_num_D_3():
    D2, D3 = MultiscaleDiscriminator(9, 8, 3, num_D=2), MultiscaleDiscriminator(9, 8, 3, num_D=3)
    fresh = D3.load_pretrained(D2)
    assert {k.split('_')[0] for k in fresh} == {'scale2'}
    hi = torch.randn(1, 9, 128, 128)
    with torch.no_grad():
        o2, o3 = D2(D3.downsample(hi)), D3(hi)
    for k in range(2):
        for a, b in zip(o3[k + 1], o2[k]): assert torch.allclose(a, b)


def test_autocast_bf16_cpu():
    G, D = GlobalGenerator(4, 3, 8, 2, 1), MultiscaleDiscriminator(7, 8, 3, num_D=2)
    s = torch.randn(1, 4, 32, 32)
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    def losses_of():
        fake = G(s)
        out, out_real = D(torch.cat([s, fake], 1)), D(torch.cat([s, real], 1))
        return fake, GANLoss()(out, True, for_discriminator=False) + FeatureMatchingLoss()(out, [[f.detach() for f in o] for o in out_real])
    _, ref = losses_of()                                                # fp32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fake, loss = losses_of()
    assert fake.dtype == torch.bfloat16                                 # autocast did run G in bf16
    assert abs(loss.float().item() - ref.item()) <= 0.05 * abs(ref.item()), (loss.item(), ref.item())
    loss.float().backward()
    grads = [p.grad for p in G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0
