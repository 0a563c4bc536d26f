import pytest


def pytest_addoption(parser):
    parser.addoption("--flags", default="",
                     help="space-separated notebook cell flags to run too, e.g. --flags 'slow cuda'")


@pytest.fixture
def force_flags(request):
    return request.config.getoption("--flags").split()
