"""Every public function and method of pix2pixhd (and the parts of public classes) annotates its arguments.
`python .ci/hints.py` lists the ones that do not and fails if there are any."""
import ast, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
PARTS = {'_Checkpointing', '_Loop', '_Logging', '_SceneEdits', '_EditorView', '_EditorPictures', '_EditorActions'}


def functions(tree):
    for n in tree.body:
        if isinstance(n, ast.FunctionDef) and not n.name.startswith('_'): yield n.name, n
        if isinstance(n, ast.ClassDef) and (not n.name.startswith('_') or n.name in PARTS):
            for m in n.body:
                if isinstance(m, ast.FunctionDef) and (not m.name.startswith('_') or m.name == '__init__'): yield f"{n.name}.{m.name}", m


def main():
    missing, total = [], 0
    for f in sorted((root / 'pix2pixhd').glob('*.py')):
        if f.name.startswith('_'): continue
        for name, fn in functions(ast.parse(f.read_text(encoding='utf-8'))):
            total += 1
            a = fn.args
            bare = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ('self', 'cls') and x.annotation is None]
            if bare: missing.append(f"{f.stem}.{name}({', '.join(bare)})")
    print(f"{total} public functions and methods, {total - len(missing)} with every argument annotated")
    if missing: sys.exit("FAIL type hints missing:\n  " + "\n  ".join(missing))


if __name__ == '__main__': main()
