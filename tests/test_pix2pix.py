"Tests of the pix2pix baseline (pix2pixhd.pix2pix): exact sizes, shapes, receptive field, training on CPU."
import pytest
import torch
import torch.nn.functional as F

from pix2pixhd.pix2pix import (GANLoss, PatchDiscriminator, UnetGenerator, empirical_receptive_field, get_norm_layer,
                               init_weights, make_optimizers, n_params, receptive_field, train_pix2pix, pix2pix_step)


def test_parameter_counts():
    assert n_params(UnetGenerator(3, 3, 8, 64, 'batch', True)) == 54_413_955
    assert n_params(PatchDiscriminator(6, 64, 3, 'batch')) == 2_768_705


@pytest.mark.parametrize("num_downs,size", [(5, (32, 64)), (7, (128, 256)), (8, (256, 256))])
def test_generator_shapes(num_downs, size):
    net = UnetGenerator(7, 3, num_downs, 8).eval()
    x = torch.randn(2, 7, *size)
    with torch.no_grad():
        y, y_other = net(x), net(torch.cat([x[:1], torch.randn(1, 7, *size)]))
    assert y.shape == (2, 3, *size)
    assert torch.allclose(y[0], y_other[0], atol=1e-6) and not torch.allclose(y[1], y_other[1], atol=1e-3)   # each output follows its own input (eval: no batch coupling)


def test_discriminator_shapes():
    net = PatchDiscriminator(6, 64, 3).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
        assert net(torch.randn(2, 6, 128, 256)).shape == (2, 1, 14, 30)


def test_dropout_blocks():
    for num_downs, n_drop in ((8, 3), (7, 2), (5, 0)):
        net = UnetGenerator(3, 3, num_downs, 8)
        assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == n_drop
    assert not any(isinstance(m, torch.nn.Dropout) for m in UnetGenerator(3, 3, 8, 8, use_dropout=False).modules())


@pytest.mark.parametrize("n_layers,rf", [(1, 16), (3, 70), (5, 286)])
def test_receptive_field(n_layers, rf):
    assert receptive_field([(4, 2)] * n_layers + [(4, 1), (4, 1)]) == rf
    assert empirical_receptive_field(PatchDiscriminator(6, 8, n_layers), 6, 320) == (rf, rf)


def test_non_divisible_size_error():
    net = UnetGenerator(3, 3, 8, 8)
    with pytest.raises(ValueError, match=r"num_downs<=7") as e:
        net(torch.randn(1, 3, 128, 256))
    assert "256" in str(e.value)
    with pytest.raises(ValueError, match=r"130"):  # names the size it got
        UnetGenerator(3, 3, 7, 8)(torch.randn(1, 3, 130, 256))


def test_norms_and_init():
    with pytest.raises(ValueError, match="instance"):
        get_norm_layer('layer')
    net = init_weights(UnetGenerator(3, 3, 5, 8, norm='instance'))
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(m.bias is not None for m in convs)  # no batch norm -> every conv has a bias
    assert all(float(m.bias.detach().abs().max()) == 0 for m in convs)


def test_gan_loss_modes():
    p = torch.randn(2, 1, 4, 4)
    assert torch.allclose(GANLoss('vanilla')(p, True), F.binary_cross_entropy_with_logits(p, torch.ones_like(p)))
    assert torch.allclose(GANLoss('lsgan')(p, False), (p ** 2).mean())
    assert torch.allclose(GANLoss('hinge')(p, True, for_discriminator=False), -p.mean())
    assert torch.allclose(GANLoss('lsgan')([[p * 0, p], [p]], True), 2 * GANLoss('lsgan')(p, True))


def test_one_step_lowers_l1():
    torch.manual_seed(0)
    G = init_weights(UnetGenerator(7, 3, 5, 8, use_dropout=False))
    D = init_weights(PatchDiscriminator(10, 8))
    optG, optD = make_optimizers(G, D)
    A, B = torch.randn(2, 7, 32, 64), torch.rand(2, 3, 32, 64) * 2 - 1
    with torch.no_grad():
        before = F.l1_loss(G(A), B).item()
    losses, fake = pix2pix_step(G, D, optG, optD, A, B, GANLoss('vanilla'))
    with torch.no_grad():
        after = F.l1_loss(G(A), B).item()
    assert after < before
    assert fake.shape == B.shape and set(losses) == {'D_real', 'D_fake', 'G_GAN', 'G_L1'}


def test_training_loop_on_toystreets_cpu():
    from pix2pixhd.data import ToyStreets
    ds = ToyStreets(4, size=(32, 64), seed=0)
    G = init_weights(UnetGenerator(ds.label_nc, 3, 5, 8))
    D = init_weights(PatchDiscriminator(ds.label_nc + 3, 8))
    hist = train_pix2pix(G, D, ds, n_iter=3, n_iter_decay=2, label_nc=ds.label_nc, batch_size=2)
    assert len(hist) == 5 and all(set(h) == {'D_real', 'D_fake', 'G_GAN', 'G_L1'} for h in hist)
    hist = train_pix2pix(G, None, ds, n_iter=2, label_nc=ds.label_nc)  # L1 only
    assert len(hist) == 2 and set(hist[0]) == {'G_L1'}


def test_rgb_input_needs_no_label_nc():
    from pix2pixhd.pix2pix import pix2pix_input
    batch = {'label': torch.rand(1, 3, 8, 8), 'image': torch.rand(1, 3, 8, 8)}
    a, b = pix2pix_input(batch)
    assert a is batch['label']
    with pytest.raises(ValueError, match="label_nc"):
        pix2pix_input({'label': torch.zeros(1, 8, 8, dtype=torch.long), 'image': b})
