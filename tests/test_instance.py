"instance.py: boundary maps on hand-made instance maps, and the network inputs."
import pytest
import torch

from pix2pixhd.instance import instance_edges, generator_input, label_input, input_channels, same_class_boundaries


def test_single_pixel_marks_a_plus():
    inst = torch.zeros(1, 5, 5, dtype=torch.long); inst[0, 2, 2] = 3
    e = instance_edges(inst)[0, 0]
    expected = torch.zeros(5, 5); expected[2, 1:4] = 1; expected[1:4, 2] = 1
    assert torch.equal(e, expected)
    assert e[1, 1] == 0  # diagonal neighbours do not count


def test_touching_objects_mark_both_sides():
    inst = torch.tensor([[26001, 26001, 26001, 26002, 26002]] * 4)[None]
    e = instance_edges(inst)[0, 0]
    assert torch.equal(e, torch.tensor([[0., 0, 1, 1, 0]] * 4))


def test_image_border_is_not_a_boundary():
    inst = torch.zeros(2, 1, 4, 6, dtype=torch.long); inst[:, :, :2] = 7   # top half one object, touching the border
    e = instance_edges(inst)
    assert e[:, :, 0].sum() == 0 and e[:, :, -1].sum() == 0 and e[..., 0].sum() == 2 * 2  # only rows 1, 2 marked
    assert torch.equal(e[0, 0, 1], torch.ones(6)) and torch.equal(e[0, 0, 2], torch.ones(6))


def test_shapes_dtypes_and_errors():
    inst = torch.randint(0, 4, (3, 8, 9))
    assert instance_edges(inst).shape == (3, 1, 8, 9) and instance_edges(inst).dtype == torch.float32
    assert torch.equal(instance_edges(inst), instance_edges(inst[:, None]))
    with pytest.raises(ValueError, match=r"\[B,H,W\]"): instance_edges(torch.zeros(8, 9))
    with pytest.raises(ValueError, match=r"\[B,H,W\]"): instance_edges(torch.zeros(2, 3, 8, 9))


def test_inputs_and_label_range():
    label, inst = torch.randint(0, 5, (2, 8, 8)), torch.randint(0, 3, (2, 8, 8))
    x = generator_input(label, 5, inst, torch.ones(2, 3, 8, 8))
    assert x.shape == (2, input_channels(5, True, 3), 8, 8)
    assert torch.equal(x[:, :6], label_input(label, 5, inst)) and torch.equal(x[:, 6:], torch.ones(2, 3, 8, 8))
    bad = label.clone(); bad[1, 3, 3] = 5
    with pytest.raises(ValueError, match="label_nc=5"): generator_input(bad, 5, inst)
    with pytest.raises(ValueError, match="label_nc=5"): generator_input(-bad, 5, inst)


def test_same_class_boundaries():
    label = torch.tensor([[5, 5, 5, 6]]); inst = torch.tensor([[5001, 5002, 5002, 6001]])
    assert same_class_boundaries(label, inst).tolist() == [[True, True, False, False]]
