"clustering.py: k-means against scikit-learn, cluster files, feature sampling, the style widget."
import numpy as np
import pytest
import torch

from pix2pixhd.viz import press
from pix2pixhd.clustering import (kmeans, cluster_features, save_clusters, load_clusters, sample_features,
                                  normalized_mutual_info, cluster_purity, StyleWidget)


def _blobs(n=300, d=3, k=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, d))
    return (centres[rng.integers(k, size=n)] + rng.normal(0, 1, (n, d))).astype(np.float32)


@pytest.mark.parametrize("seed,k,d", [(0, 5, 3), (1, 3, 2), (2, 10, 3), (3, 8, 16)])
def test_kmeans_matches_sklearn(seed, k, d):
    sk = pytest.importorskip("sklearn.cluster")
    x = _blobs(n=400, d=d, k=k, seed=seed)
    ref = sk.KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
    _, labels, inertia = kmeans(torch.from_numpy(x), k, n_init=10, seed=0)
    assert abs(inertia - ref.inertia_) <= 0.01 * ref.inertia_
    assert len(labels) == len(x) and labels.max() < k


def test_nmi_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 3, 200)
    b[:100] = a[:100] % 3
    assert abs(normalized_mutual_info(a, b) - metrics.normalized_mutual_info_score(b, a)) < 1e-6
    assert cluster_purity([0, 1, 1, 2], [0, 1, 1, 1]) == 1.0


def test_save_load_roundtrip_without_pickle(tmp_path):
    clusters = {5: np.random.rand(10, 3).astype(np.float32), 26: np.random.rand(4, 3).astype(np.float32)}
    path = save_clusters(tmp_path / "sub" / "features_clustered.npz", clusters)
    back = load_clusters(path)
    assert sorted(back) == [5, 26] and all(np.array_equal(back[c], clusters[c]) for c in clusters)
    with np.load(path, allow_pickle=False) as z: assert sorted(z.files) == ['26', '5']
    assert not list(path.parent.glob('*.tmp'))
    with pytest.raises(ValueError): save_clusters(tmp_path / "bad.npz", {1: np.zeros((2, 3)), 2: np.zeros((2, 4))})


def test_cluster_features_per_class():
    x = torch.from_numpy(_blobs(60, 3, 3))
    table = {'feat': x, 'cls': torch.tensor([1] * 30 + [5] * 28 + [6] * 2)}
    cl = cluster_features(table, n_clusters=4)
    assert sorted(cl) == [1, 5, 6] and cl[1].shape == (4, 3) and cl[6].shape == (2, 3)


def test_sampling_never_leaves_values_unset():
    clusters = {5: np.array([[1., 2.]], np.float32)}
    inst = torch.tensor([[[0, 5001], [23, 5002]]])       # classes 0 and 23 have no clusters
    for _ in range(3):
        torch.empty(1 << 20).fill_(float('nan'))            # dirty memory would show up as NaN
        f = sample_features(inst, clusters)
        assert torch.isfinite(f).all()
        assert f[0, :, 0, 0].tolist() == [0, 0] and f[0, :, 0, 1].tolist() == [1, 2] and f[0, :, 1, 1].tolist() == [1, 2]
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    many = {5: np.random.rand(6, 2).astype(np.float32)}
    inst = torch.tensor([[[5000 + i for i in range(8)]]])
    assert torch.equal(sample_features(inst, many, generator=g1), sample_features(inst, many, generator=g2))


def test_style_widget_follows_sliders():
    pytest.importorskip("ipywidgets")
    clusters = {5: np.array([[-1.], [0.], [1.]], np.float32), 1: np.array([[0.5], [-.5]], np.float32)}
    inst = torch.tensor([[[1, 1, 5001, 5002]]])
    render = lambda f: ((f[0, 0] + 1) * 100).round().byte()[..., None].expand(-1, -1, 3).numpy()
    w = StyleWidget(inst, clusters, render, class_names=['sky', 'building', '', '', '', 'car'])
    assert w.image.shape == (1, 4, 3) and w.view.value[:4] == b'\x89PNG'
    w.sliders[5].value = 2
    assert w.image[0, 2:, 0].tolist() == [200, 200]
    w.sliders[1].value = 1
    assert w.image[0, :2, 0].tolist() == [50, 50]
    w.picker.value = 5002; w.inst_slider.value = 0
    assert w.image[0, 2:, 0].tolist() == [200, 0]
    w.picker.value = 5001
    assert w.inst_slider.value == -1            # the picker shows the picked instance's own choice
    press(w.button)
    assert set(w.inst_choice) == {5001, 5002} and np.isfinite(w.feat.numpy()).all()
