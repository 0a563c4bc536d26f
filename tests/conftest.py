import pytest


def pytest_addoption(parser):
    parser.addoption("--flags", default="",
                     help="space-separated notebook cell flags to run too, e.g. --flags 'slow cuda'")


@pytest.fixture
def force_flags(request):
    return request.config.getoption("--flags").split()


def pytest_configure(config):
    "The summary lists every skipped test with its reason (as `-rs` would)."
    if 's' not in config.option.reportchars: config.option.reportchars += 's'
