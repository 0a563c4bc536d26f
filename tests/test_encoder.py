"encoder.py: the reference encoder's size and the instance-wise average pooling."
import torch

from pix2pixhd.encoder import Encoder, instance_average, instance_average_loop, segment_means


def test_parameter_count_and_layout():
    E = Encoder(input_nc=3, output_nc=3, ngf=16, n_downsampling=4)
    assert sum(p.numel() for p in E.parameters() if p.requires_grad) == 788_803
    keys = list(E.state_dict())
    assert keys[0] == 'model.1.weight' and keys[-1].startswith('model.') and all(k.startswith('model.') for k in keys)


def test_pooled_output_constant_and_equal_to_instance_mean():
    torch.manual_seed(0)
    E = Encoder(ngf=8, n_downsampling=2)
    image, inst = torch.randn(2, 3, 16, 24), torch.randint(0, 4, (2, 16, 24)) * 1000 + 5
    raw = E.model(image)
    out = E(image, inst)
    for b in range(2):
        for i in inst[b].unique():
            m = inst[b] == i
            mean = raw[b][:, m].mean(1)
            assert torch.allclose(out[b][:, m], mean[:, None].expand(-1, int(m.sum())), atol=1e-6)


def test_vectorised_equals_naive_loop():
    torch.manual_seed(1)
    for ids in (torch.randint(0, 50, (3, 20, 30)), torch.randint(0, 5, (3, 20, 30)) * 10**10, torch.randint(-3, 3, (3, 20, 30))):
        feat = torch.randn(3, 4, 20, 30)
        assert torch.allclose(instance_average(feat, ids), instance_average_loop(feat, ids), atol=1e-5)
        assert torch.allclose(instance_average(feat, ids[:, None]), instance_average_loop(feat, ids), atol=1e-5)


def test_gradient_flows_to_every_pixel():
    feat = torch.randn(1, 2, 6, 6, requires_grad=True)
    inst = torch.zeros(1, 6, 6, dtype=torch.long); inst[0, :2] = 1
    (instance_average(feat, inst) * torch.arange(2.).view(1, 2, 1, 1)).sum().backward()
    assert torch.allclose(feat.grad[0, 0], torch.zeros(6, 6)) and torch.allclose(feat.grad[0, 1], torch.ones(6, 6))


def test_segment_means_counts():
    inst = torch.tensor([[[0, 0, 7], [7, 7, 7]]])
    means, counts, key, ids, batch = segment_means(torch.arange(6.).view(1, 1, 2, 3), inst)
    present = counts > 0
    assert ids[present].tolist() == [0, 7] and counts[present].tolist() == [2, 4]
    assert torch.allclose(means[present, 0], torch.tensor([0.5, 3.5]))
