"The scene editor beyond the notebook's ToyStreets model: the shipped files, models without styles or instances."
import pytest
import torch

from pix2pixhd.data import ToyStreets, BUILDING, CAR, ROAD, SKY
from pix2pixhd.model import Pix2PixHD, get_options
from pix2pixhd.viz import press
from pix2pixhd.evaluate import TOY_SEGMENTER, load_segmenter, score_images
from pix2pixhd.widgets import TOY_EDITOR, SceneEditor, load_toy_editor, delete_instance, relabel_instance


def test_shipped_model_loads_and_synthesizes():
    files = sorted(p.name for p in TOY_EDITOR.iterdir())
    assert files == ['clusters.npz', 'model.pth']
    assert sum(p.stat().st_size for p in TOY_EDITOR.iterdir()) <= 10 * 2**20
    model, clusters = load_toy_editor()
    ds = ToyStreets(4, size=(128, 256), seed=3)
    label, inst = (torch.stack([ds[i][k] for i in range(4)]) for k in ('label', 'inst'))
    with torch.no_grad():
        fake = model.synthesize(label, inst, clusters=clusters, generator=torch.Generator().manual_seed(0))
    assert fake.shape == (4, 3, 128, 256)
    scores = score_images(load_segmenter(str(TOY_SEGMENTER)), fake, label, n_classes=7)   # the scene is in the picture
    assert scores['pixel_acc'] > 0.85 and scores['mean_iou'] > 0.6, scores                 # (0.94 / 0.81; untrained: 0.30)


def _tiny(**kw):
    torch.manual_seed(0)
    opt = get_options('toy', ngf=8, n_downsample_global=2, n_blocks_global=1, **kw)
    return Pix2PixHD(opt, is_train=False).eval()


def test_editor_without_style_features():
    item = ToyStreets(2, size=(64, 128), seed=0)[0]
    ed = SceneEditor(_tiny(), item['label'], item['inst'], donors=[ToyStreets(2, size=(64, 128), seed=0)[1]])
    assert ed.clusters is None and ed.style not in [w for box in ed.widget.children for w in getattr(box, 'children', [])]
    car = next(i for i, c in ed.segments() if c == CAR)
    ed.instance.value = car
    before = ed.image.copy()
    ed.new_class.value = ROAD
    press(ed.relabel_button)
    assert (ed.label[item['inst'] == car] == ROAD).all() and not (ed.image == before).all()
    press(ed.undo_button)
    assert ed.label.equal(item['label'])
    with pytest.raises(ValueError, match='no style clusters'):
        ed.set_style(0)


def test_editor_without_instance_maps():
    item = ToyStreets(1, size=(64, 128), seed=1)[0]
    ed = SceneEditor(_tiny(no_instance=True), item['label'])     # inst defaults to the label: one segment per class
    assert sorted(i for i, _ in ed.segments()) == item['label'].unique().tolist()
    ed.instance.value = SKY
    ed.new_class.value = BUILDING
    press(ed.relabel_button)
    assert not (ed.label == SKY).any() and ed.status.value.startswith('sky → building')


def test_delete_enclosed_region_falls_back_to_majority_class():
    label = torch.full((8, 8), ROAD, dtype=torch.long)
    inst = label.clone()
    label[2:6, 2:6], inst[2:6, 2:6] = CAR, CAR * 1000         # a car ...
    label[3:5, 3:5], inst[3:5, 3:5] = CAR, CAR * 1000 + 1     # ... with another car inside it
    l2, i2 = delete_instance(label, inst, CAR * 1000 + 1, thing_classes=(CAR,))
    assert (l2[3:5, 3:5] == ROAD).all() and (i2[3:5, 3:5] == ROAD).all()
    l3, i3 = relabel_instance(label, inst, CAR * 1000, CAR, thing_classes=(CAR,))
    assert l3.equal(label) and i3.equal(inst)


def _fill_whole_frame(label, inst, mask, sources):
    "Oracle: the same 4-neighbour growth run over the whole frame, one pixel ring per round."
    from pix2pixhd.scene import _shift
    label, inst = label.clone(), inst.clone()
    known, todo = sources & ~mask, mask.clone()
    while todo.any():
        k0, l0, i0 = known.clone(), label.clone(), inst.clone()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            take = todo & _shift(k0, dy, dx)
            label[take], inst[take] = _shift(l0, dy, dx)[take], _shift(i0, dy, dx)[take]
            known |= take
            todo &= ~take
        assert (known & ~k0).any()
    return label, inst


def test_delete_reads_only_a_window_but_fills_like_the_whole_frame():
    from pix2pixhd.widgets import fill_from_surroundings
    for item in ToyStreets(3, size=(96, 192), seed=7):
        label, inst = item['label'], item['inst']
        sources = ~torch.isin(label, torch.tensor(ToyStreets.thing_classes)) & (inst < 1000)
        for iid in [i for i in inst.unique().tolist() if i >= 1000]:
            mask = inst == iid
            expected = _fill_whole_frame(label, inst, mask, sources)
            got = fill_from_surroundings(label, inst, mask, sources)
            assert got[0].equal(expected[0]) and got[1].equal(expected[1]), iid
