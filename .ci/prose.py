"""Numbers in the notebooks' prose that no output above them printed.

A course may only state a measured number that a cell above it printed. This script reads every notebook in nbs/,
takes each markdown cell's measured-looking numbers (a decimal such as 0.665 or 1.8, a percentage, a ratio such as
2.1×), leaving out code spans, LaTeX, headings, and references to the paper's sections or software versions, and looks for each in the saved outputs of the code cells above it.
A number counts as printed when an output above shows it, or shows a number that rounds to it (0.476 for 0.48). Numbers that are not measurements are in ALLOWED: the paper's
own figures and fixed settings, each with its reason.

    python .ci/prose.py              # the findings, per notebook, and their count
    python .ci/prose.py --strict     # the same, and exit 1 if there is any
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r'(?<![\w.\-/§])(\d+(?:\.\d+)?)(\s?%|×)?(?![\w/]|\.\d)')
NOT_MEASURED = re.compile(r'(?:Sec\.|Section|Eq\.|Table|Figure|≥|version|torch|Python|NumPy)\s*$', re.I)
ALLOWED = {  # number: why it may stand in prose without an output above it
    '78.34': "the paper's Table 1", '0.3948': "the paper's Table 1", '83.78': "the paper's Table 1",
    '0.6389': "the paper's Table 1", '84.29': "the paper's Table 1", '0.6857': "the paper's Table 1",
    '70.55': "the paper's Table 1 (CRN)", '0.3483': "the paper's Table 1 (CRN)",
    '0.5': 'the papers\' Adam beta1', '0.999': "Adam's beta2 and the EMA decay", '2e-4': 'the learning rate',
    '0.02': "the papers' initialisation", '0.2': 'LeakyReLU slope', '1.0': 'a label value', '0.0': 'a label value',
    '3.2': 'a section of the paper',
}


def outputs_text(cell) -> str:
    "Everything a code cell's saved outputs show as text."
    out = []
    for o in cell.get('outputs', []):
        out.append(''.join(o.get('text', '')))
        for k, v in o.get('data', {}).items():
            if k.startswith('text/'): out.append(''.join(v))
    return '\n'.join(out)


def prose_numbers(md: str):
    "The measured-looking numbers of a markdown cell's prose (not in code spans, LaTeX, headings or links)."
    md = re.sub(r'```.*?```', ' ', md, flags=re.S)
    md = re.sub(r'`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)', ' ', md, flags=re.S)
    md = '\n'.join(l for l in md.splitlines() if not l.lstrip().startswith('#'))
    for m in NUMBER.finditer(md):
        digits, unit = m.group(1), m.group(2)
        if NOT_MEASURED.search(md[max(0, m.start() - 12):m.start()]): continue   # a section, an equation, a version
        if '.' in digits or unit: yield digits + (unit or '').strip()


def printed(digits: str, seen: str, shown: set) -> bool:
    "Whether `digits` (a prose number) is in the outputs `seen`, as written or as the rounding of a printed number."
    if digits in seen: return True
    places = len(digits.split('.')[1]) if '.' in digits else 0
    return any(round(x, places) == float(digits) for x in shown)


def findings(nb_path: Path) -> list[tuple[int, str]]:
    "(cell index, number) for each prose number no output above its cell contains."
    cells, seen, shown, out = json.loads(nb_path.read_text(encoding='utf-8'))['cells'], '', set(), []
    for i, c in enumerate(cells):
        src = ''.join(c['source'])
        if c['cell_type'] == 'code':
            text = outputs_text(c)
            seen += '\n' + text; shown |= {float(x) for x in re.findall(r'\d+\.\d+|\d+', text)}
            continue
        for n in prose_numbers(src):
            digits = n.rstrip('%×').strip()
            if digits in ALLOWED or printed(digits, seen, shown): continue
            out.append((i, n))
    return out


def main(strict: bool = False) -> int:
    total = 0
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        f = findings(nb)
        total += len(f)
        if f: print(f"{nb.name}: {len(f)}: " + ', '.join(f"cell {i} {n}" for i, n in f))
    print(f"{total} number(s) in prose that no output above them printed")
    return int(strict and total > 0)


if __name__ == '__main__':
    sys.exit(main('--strict' in sys.argv))
