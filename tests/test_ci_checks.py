"""The source checks CI runs can fail: each is shown a case it must flag, and one it must pass."""
import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / '.ci' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def notebook(tmp_path: Path, cells: list) -> Path:
    p = tmp_path / 'nb.ipynb'
    p.write_text(json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}), encoding='utf-8')
    return p


def md(s): return {'cell_type': 'markdown', 'metadata': {}, 'source': [s]}
def code(out): return {'cell_type': 'code', 'metadata': {}, 'source': ['x'], 'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': [out]}]}


def test_prose_flags_a_number_no_output_printed(tmp_path):
    prose = load('prose')
    nb = notebook(tmp_path, [md("The model reaches 0.731 mean IoU."), code("mean IoU 0.7312\n"), md("Again 0.731, and 0.66.")])
    assert prose.findings(nb) == [(0, '0.731'), (2, '0.66')]          # above its output: flagged; never printed: flagged


def test_prose_passes_printed_rounded_allowed_and_code(tmp_path):
    prose = load('prose')
    nb = notebook(tmp_path, [code("ratio 1.8349, 12.5%\n"),
                             md("It runs 1.83× faster (12.5% of the time), Adam's beta1 0.5, `lr=0.0002`, $x^{0.7}$, Section 3.2.")])
    assert prose.findings(nb) == []


def test_the_course_has_no_unprinted_numbers(capsys):
    assert load('prose').main(strict=True) == 0, capsys.readouterr().out
