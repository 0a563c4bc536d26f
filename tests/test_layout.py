"""The layout README.md describes: one module per notebook, imports only from modules of earlier notebooks, and every
name that moved still importable from where it was."""
import ast, importlib, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / 'pix2pixhd'


def notebook_of(module: Path) -> str:
    "The notebook a generated module says it comes from ('' for files nbdev does not write)."
    m = re.search(r'File to edit: \.\./nbs/(\w+)\.ipynb', module.read_text(encoding='utf-8'))
    return m.group(1) if m else ''


MODULES = {p.stem: notebook_of(p) for p in sorted(LIB.glob('*.py')) if notebook_of(p)}


def test_one_module_per_notebook():
    nbs = list(MODULES.values())
    assert len(nbs) == len(set(nbs)), f"a notebook exports more than one module: {MODULES}"
    exported = {p.stem for p in (ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')}
    assert exported == set(nbs), f"notebooks without a module: {sorted(exported - set(nbs))}"


def test_imports_go_one_way():
    "A module imports only modules of earlier notebooks (at import time: imports inside functions are for `__main__`)."
    bad = []
    for name, nb in MODULES.items():
        tree = ast.parse((LIB / f'{name}.py').read_text(encoding='utf-8'))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in MODULES and MODULES[node.module] >= nb:
                bad.append(f"{name} ({nb}) imports {node.module} ({MODULES[node.module]})")
    assert not bad, "\n".join(bad)


MOVED = {  # old home -> names that moved to another module and are re-exported from it
    'data': ['ToyStreets', 'write_toystreets', 'render_toystreets', 'TOY_CLASSES', 'TOY_PALETTE', 'CAR', 'colorize',
             'tensor_to_image', 'draw_boundaries', 'image_grid', 'make_palette', 'show_items'],
    'pix2pix': ['GANLoss', 'n_params', 'get_norm_layer', 'init_weights'],
    'generator': ['read_state_dict', 'load_checkpoint', 'load_matching'],
    'model': ['frozen'],
    'train': ['CHECKPOINT_FORMAT', 'CheckpointError', 'atomic_save', 'read_checkpoint', 'find_checkpoint', 'resume_checkpoint',
              'load_model', 'lr_factor', 'resolve_precision', 'autocast_for', 'DistInfo', 'init_distributed',
              'EpochSampler', 'compact_maps', 'SeededItems', 'make_loader'],
    'clustering': ['png_bytes', 'enlarge'],
    'widgets': ['export_inference_checkpoint', 'Scene', 'relabel_instance', 'delete_instance', 'paste_instance'],
    'experiment': ['samples_path', 'save_samples', 'show_samples'],
}


@pytest.mark.parametrize('old', sorted(MOVED))
def test_moved_names_still_import_from_their_old_home(old):
    mod = importlib.import_module(f'pix2pixhd.{old}')
    for name in MOVED[old]:
        obj = getattr(mod, name)
        home = getattr(obj, '__module__', None)
        assert name in mod.__all__, f"pix2pixhd.{old}.{name} is importable but not in __all__"
        if home and home.startswith('pix2pixhd.'): assert home != f'pix2pixhd.{old}', f"{name} did not move from {old}"
