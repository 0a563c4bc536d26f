"""Size limits: no exported module over 400 lines, no function or method over 60, no class over 150, no notebook
code cell over 80. A place over its limit is listed in ALLOWED with the size it may not grow past and why.
`python .ci/sizes.py` prints the largest places and fails on any over its limit and not allowed."""
import ast, json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
LIMITS = {'module': 400, 'function': 60, 'class': 150, 'cell': 80}
ALLOWED = {  # place: (size it may not exceed, why it is over the limit)
    'cell 12_pix2pixhd:_opt': (98, 'the Options dataclass: one line per option of the reference, grouped; one class, one cell'),
    'cell 12_pix2pixhd:Pix2PixHD': (85, 'the Pix2PixHD class: one class, one cell'),
    'cell 11_clustering:StyleWidget': (81, 'the StyleWidget class: one class, one cell'),
}


def _cell_name(cell, i) -> str:
    "The first class or function a cell defines (stable when cells move), else its index."
    m = re.search(r'^(?:class|def) (\w+)', ''.join(cell['source']), re.M)
    return m.group(1) if m else f'[{i}]'


def places():
    for f in sorted((root / 'pix2pixhd').glob('*.py')):
        if f.name == '_modidx.py': continue
        text = f.read_text(encoding='utf-8')
        yield 'module', f'module {f.name}', len(text.splitlines())
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): yield 'function', f'function {f.name}:{n.name}', n.end_lineno - n.lineno + 1
            elif isinstance(n, ast.ClassDef): yield 'class', f'class {f.name}:{n.name}', n.end_lineno - n.lineno + 1
    for nb in sorted((root / 'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text(encoding='utf-8'))['cells']):
            if c['cell_type'] == 'code': yield 'cell', f'cell {nb.stem}:{_cell_name(c, i)}', len(''.join(c['source']).splitlines())


def main():
    rows, bad = list(places()), []
    for kind in LIMITS:
        top = sorted((r for r in rows if r[0] == kind), key=lambda r: -r[2])[:5]
        print(f"largest ({kind}, limit {LIMITS[kind]}):", ', '.join(f"{name.split(' ', 1)[1]} {n}" for _, name, n in top))
    for kind, name, n in rows:
        if n <= LIMITS[kind]: continue
        cap, why = ALLOWED.get(name, (None, None))
        if cap is None or n > cap: bad.append(f"{name}: {n} lines, limit {LIMITS[kind]}" + (f" (allowed {cap}: {why})" if cap else ""))
    for name in ALLOWED:
        if not any(r[1] == name and r[2] > LIMITS[r[0]] for r in rows): bad.append(f"{name}: no longer over its limit; remove it from ALLOWED")
    print(f"{len(ALLOWED)} places allowed over their limit (see .ci/sizes.py)")
    if bad: sys.exit("FAIL size limits:\n  " + "\n  ".join(bad))


if __name__ == '__main__': main()
