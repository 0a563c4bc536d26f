"""Every notebook in nbs/ is a test case, run the way nbdev's `test_nb` runs it (cells flagged with `tst_flags` are
skipped unless `--flags` forces them). Forcing `slow` also turns on the notebook's `LONG_RUNS` switch, which guards
those cells when a reader presses Run All."""
import os, re, time
from pathlib import Path

import pytest
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

NBS = sorted(Path(__file__).resolve().parent.parent.joinpath("nbs").glob("*.ipynb"))
SWITCH = re.compile(r"^LONG_RUNS = False\b", re.M)


def run_notebook(path, skip_flags, force_flags):
    "Run `path` top to bottom as nbdev's test_nb does; True, seconds, error text."
    os.environ["IN_TEST"] = "1"
    flags, long_runs = set(skip_flags) - set(force_flags), "slow" in force_flags
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb

    def skip(cell):
        if cell.cell_type != "code" or "nbdev_export(" in cell.source: return True
        if long_runs: cell.source = SWITCH.sub("LONG_RUNS = True", cell.source)
        return flags & (getattr(cell, "directives_", {}) or {}).keys()

    shell, start = CaptureShell(path), time.time()
    try:
        with working_directory(path.parent):
            shell.run_all(nb, exc_stop=True, preproc=skip)
        return True, time.time() - start, ""
    except Exception:
        return False, time.time() - start, shell.prettytb(fname=path)


def test_every_slow_cell_is_behind_the_switch():
    "Run All in Jupyter must not start a long run: each `#| slow` cell checks LONG_RUNS, set once at the top."
    import json
    for path in NBS:
        cells = [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text())["cells"]]
        slow = [s for s, t in cells if t == "code" and s.startswith("#| slow")]
        if not slow: continue
        assert any(t == "code" and SWITCH.match(s) for s, t in cells[:3]), f"{path.name}: no `LONG_RUNS = False` cell at the top"
        for s in slow:
            assert s.splitlines()[1].startswith("if not LONG_RUNS:"), f"{path.name}: a slow cell runs without LONG_RUNS:\n{s[:200]}"


def test_notebooks_open_as_a_reader_expects():
    "A kernelspec (no 'Select Kernel' dialog), no cell that pytest skips but Run All runs, an export cell that works without the dev tools."
    import json
    for path in NBS:
        nb = json.loads(path.read_text())
        assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", f"{path.name}: no python3 kernelspec"
        for c in nb["cells"]:
            s = "".join(c["source"])
            directives = [l.replace(" ", "").lower() for l in s.splitlines() if l.startswith("#|")]
            assert "#|eval:false" not in directives, \
                f"{path.name}: an `eval: false` cell runs under Run All but never under pytest:\n{s[:200]}"
            if "nbdev_export()" in s:
                assert "except ImportError" in s, f"{path.name}: the export cell fails where nbdev is not installed:\n{s}"


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, force_flags):
    ok, secs, err = run_notebook(nb, get_config().tst_flags.split(), force_flags)
    assert ok, f"{nb.name} failed after {secs:.0f}s:\n{err}"
