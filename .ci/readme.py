"""Render nbs/index.ipynb to README.md (markdown cells as they are, code cells fenced, text outputs fenced).

Quarto is not available offline, so README.md is made by this script instead of `nbdev_readme`.
`python .ci/readme.py` writes README.md; `python .ci/readme.py --check` fails if README.md is stale.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent


def render(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]).rstrip()
        if cell["cell_type"] == "markdown":
            parts.append(src)
        elif cell["cell_type"] == "code":
            lines = [l for l in src.splitlines() if not l.startswith("#|")]
            if any(l.startswith("#| hide") for l in src.splitlines()) or not "".join(lines).strip():
                continue
            parts.append("```python\n" + "\n".join(lines).strip() + "\n```")
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", [])
                            if o.get("output_type") in ("execute_result", "display_data") and "image/png" not in o.get("data", {}))
            if text.strip():
                parts.append("```\n" + text.rstrip() + "\n```")
    return "<!-- generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file -->\n\n" + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    out = render(root / "nbs" / "index.ipynb")
    readme = root / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text(encoding="utf-8") != out:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python .ci/readme.py`")
    else:
        readme.write_text(out, encoding="utf-8")
