"Bad input, CLI and cross-process checks for pix2pixhd.data (notebooks 00_toystreets and 02_data test the happy paths)."
import hashlib, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pix2pixhd.data import (AlignedDataset, CityscapesDataset, DataError, PairedFolderDataset, PairedTransform,
                            ToyStreets, read_image, read_instance, read_label, write_toystreets)

BIN = Path(sys.executable).parent


@pytest.fixture
def toy(tmp_path):
    return write_toystreets(tmp_path / 'toy', n_train=4, n_val=1, size=(32, 64))


def save(arr, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_label_value_out_of_range(toy):
    lab = np.array(Image.open(toy / 'train_label/000001.png'))
    lab[0, 0] = 40
    save(lab, toy / 'train_label/000001.png')
    ds = PairedFolderDataset(toy, 'train', label_nc=7)
    ds[0]
    with pytest.raises(DataError) as e: ds[1]
    msg = str(e.value)
    assert 'train_label/000001.png' in msg and 'label value 40' in msg and 'label_nc=7' in msg


def test_colour_label_png_is_refused(toy):
    rgb = np.zeros((32, 64, 3), np.uint8); rgb[..., 0] = 128; rgb[..., 2] = 200
    save(rgb, toy / 'train_label/000002.png')
    with pytest.raises(DataError, match=r"000002\.png: is a colour \(RGB\) image"):
        PairedFolderDataset(toy, 'train', label_nc=7)[2]


def test_grey_label_saved_as_rgb_is_accepted(tmp_path):
    ids = np.random.default_rng(0).integers(0, 7, (8, 8)).astype(np.uint8)
    p = save(np.repeat(ids[..., None], 3, -1), tmp_path / 'grey_rgb.png')
    assert (read_label(p, 7) == ids).all()


def test_label_photo_size_mismatch(toy):
    save(np.zeros((16, 64, 3), np.uint8), toy / 'train_img/000003.png')
    with pytest.raises(DataError) as e: PairedFolderDataset(toy, 'train', label_nc=7)[3]
    msg = str(e.value)
    assert '000003.png' in msg and '64×32' in msg and '64×16' in msg and 'train_img' in msg


@pytest.mark.parametrize('role', ['label', 'img', 'inst'])
def test_missing_partner_file(toy, role):
    (toy / f'train_{role}/000002.png').unlink()
    with pytest.raises(DataError) as e: PairedFolderDataset(toy, 'train', label_nc=7)
    msg = str(e.value)
    assert f'train_{role}' in msg and "'000002'" in msg


def test_pairing_is_by_name_not_sort_order(tmp_path):
    root = tmp_path / 'ds'
    for i, name in enumerate(['b', 'a', 'c']):
        save(np.full((8, 8), i, np.uint8), root / f'train_label/{name}_gtFine_labelIds.png')
        save(np.full((8, 8, 3), 40 * i, np.uint8), root / f'train_img/{name}_leftImg8bit.jpg' if name == 'a' else root / f'train_img/{name}.png')
    ds = PairedFolderDataset(root, 'train', label_nc=3)
    for item in ds:
        i = int(item['label'][0, 0])
        assert Path(item['path']).stem.startswith('bac'[i])
        assert abs(float(item['image'].mean()) - (40 * i / 127.5 - 1)) < 0.05


def test_duplicate_pair_key(tmp_path):
    save(np.zeros((8, 8), np.uint8), tmp_path / 'd/train_label/a.png')
    save(np.zeros((8, 8), np.uint8), tmp_path / 'd/train_label/a.jpg')
    save(np.zeros((8, 8, 3), np.uint8), tmp_path / 'd/train_img/a.png')
    with pytest.raises(DataError, match="two files pair as 'a'"): PairedFolderDataset(tmp_path / 'd', label_nc=3)


def test_truncated_image(toy):
    p = toy / 'train_img/000000.png'
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"000000\.png: cannot read image .*truncated"):
        PairedFolderDataset(toy, 'train', label_nc=7)[0]


def test_not_an_image(toy):
    (toy / 'train_img/000001.png').write_text('this is not a png')
    with pytest.raises(DataError, match=r"000001\.png: cannot read image"):
        PairedFolderDataset(toy, 'train', label_nc=7)[1]


def test_error_crosses_dataloader_workers(toy):
    (toy / 'train_img/000001.png').write_bytes(b'')
    dl = DataLoader(PairedFolderDataset(toy, 'train', label_nc=7), batch_size=1, num_workers=1)
    with pytest.raises(DataError, match=r"000001\.png: cannot read image"):
        for _ in dl: pass


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / 'e/train_label').mkdir(parents=True); (tmp_path / 'e/train_img').mkdir()
    with pytest.raises(DataError, match=r"train_label: no image files"): PairedFolderDataset(tmp_path / 'e', label_nc=3)
    with pytest.raises(DataError, match=r"nowhere: dataset folder not found"): PairedFolderDataset(tmp_path / 'nowhere')
    (tmp_path / 'f').mkdir()
    with pytest.raises(DataError, match=r"train_label: folder not found"): PairedFolderDataset(tmp_path / 'f', label_nc=3)
    (tmp_path / 'g/train').mkdir(parents=True)
    with pytest.raises(DataError, match=r"no image files"): AlignedDataset(tmp_path / 'g')
    with pytest.raises(DataError, match=r"leftImg8bit.*folder not found"): CityscapesDataset(tmp_path / 'g')


def test_label_nc_zero_image_to_image(tmp_path):
    for i in range(2):
        save(np.full((16, 32, 3), 10 * i, np.uint8), tmp_path / f'rgb/train_A/{i}.png')
        save(np.full((16, 32, 3), 200, np.uint8), tmp_path / f'rgb/train_B/{i}.png')
    ds = PairedFolderDataset(tmp_path / 'rgb', 'train', label_nc=0)
    item = ds[1]
    assert item['label'].dtype == torch.float32 and item['label'].shape == (3, 16, 32)
    assert set(item) == {'label', 'image', 'path'}
    (tmp_path / 'rgb/train_B/1.png').unlink()
    with pytest.raises(DataError, match=r"train_B: no image file for 1 item"): PairedFolderDataset(tmp_path / 'rgb', label_nc=0)


def test_cityscapes_16bit_ids_and_missing_instance(tmp_path):
    root = tmp_path / 'cs'
    lab = np.full((16, 32), 26, np.uint8)
    inst = np.full((16, 32), 33001, np.uint16); inst[:, :16] = 26000
    base = 'gtFine/val/bonn/bonn_000000_000001'
    save(lab, root / f'{base}_gtFine_labelIds.png')
    save(inst, root / f'{base}_gtFine_instanceIds.png')
    save(np.zeros((16, 32, 3), np.uint8), root / 'leftImg8bit/val/bonn/bonn_000000_000001_leftImg8bit.png')
    item = CityscapesDataset(root, 'val')[0]
    assert set(item['inst'].unique().tolist()) == {26000, 33001}
    assert read_instance(root / f'{base}_gtFine_instanceIds.png').max() == 33001
    (root / f'{base}_gtFine_instanceIds.png').unlink()
    with pytest.raises(DataError, match=r"instanceIds\.png: missing"): CityscapesDataset(root, 'val')
    assert len(CityscapesDataset(root, 'val', use_instance=False)) == 1


def test_aligned_odd_width(tmp_path):
    save(np.zeros((16, 33, 3), np.uint8), tmp_path / 'ab/train/x.png')
    with pytest.raises(DataError, match=r"x\.png: width 33 is odd"): AlignedDataset(tmp_path / 'ab')[0]


def test_grayscale_photo_becomes_rgb(tmp_path):
    p = save(np.full((8, 8), 255, np.uint8), tmp_path / 'g.png')
    t = read_image(p)
    assert t.shape == (3, 8, 8) and torch.allclose(t, torch.ones_like(t))


def test_transform_divisible_error_names_sizes():
    item = {'label': torch.zeros(1000, 750, dtype=torch.long), 'image': torch.zeros(3, 1000, 750), 'path': 'p.png'}
    with pytest.raises(ValueError, match=r"750×1000.*not divisible by 32.*736×992"):
        PairedTransform(divisor=32, make_divisible='error')(item)
    with pytest.raises(ValueError, match="larger than"):
        PairedTransform(crop_size=(2000, 100))(item)


def _item_digest(seed, i, size):
    item = ToyStreets(i + 1, size=size, seed=seed)[i]
    h = hashlib.sha256()
    for k in ('label', 'inst', 'style', 'image'): h.update(item[k].numpy().tobytes())
    return h.hexdigest()


def test_toystreets_identical_across_processes():
    code = ("from tests.test_data import _item_digest; print(_item_digest(3, 5, (64, 128)))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    assert out == _item_digest(3, 5, (64, 128))


def test_toystreets_in_dataloader_workers():
    ds = ToyStreets(4, size=(32, 64))
    batch = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert batch['label'].shape == (4, 32, 64)
    for i in range(4): assert torch.equal(batch['inst'][i], ds[i]['inst'])


def test_cli_writes_dataset_and_grid(tmp_path):
    out = tmp_path / 'toy'
    r = subprocess.run([BIN / 'pix2pixhd_toydata', '--out', str(out), '--n_train', '3', '--n_val', '2',
                        '--size', '64x32', '--grid'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'wrote 3 train + 2 val images of 64×32' in r.stdout
    assert len(PairedFolderDataset(out, 'train', label_nc=7)) == 3 and len(PairedFolderDataset(out, 'val', label_nc=7)) == 2
    assert Image.open(out / 'sample_grid.png').size[0] > 64
    assert not list(out.rglob('*.tmp.png'))


def test_cli_bad_size(tmp_path):
    r = subprocess.run([BIN / 'pix2pixhd_toydata', '--out', str(tmp_path / 'x'), '--size', '256by128'],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'WIDTHxHEIGHT' in r.stderr
