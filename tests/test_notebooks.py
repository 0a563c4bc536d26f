"Every notebook in nbs/ is a test case, run by nbdev's own runner (cells flagged with `tst_flags` are skipped)."
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(Path(__file__).resolve().parent.parent.joinpath("nbs").glob("*.ipynb"))


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, force_flags, capsys):
    skip_flags = get_config().tst_flags.split()
    ok, secs = run_notebook(nb, skip_flags=skip_flags, force_flags=force_flags, showerr=True)
    err = capsys.readouterr().err
    assert ok, f"{nb.name} failed after {secs:.0f}s:\n{err}"
