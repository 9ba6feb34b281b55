"""The layers point one way: product code (code/, container/) imports nothing of the tools around
it; bench/ and harness/ do not import tests/; local_mode/ does not import cloud/; the worker side
of the inference image does not import `serve`'s entry point. Read from the sources' imports."""
import ast
import pathlib

import pytest

pytestmark = pytest.mark.unit

REPO = pathlib.Path(__file__).resolve().parents[2]
TEST_MODULES = {path.stem for path in (REPO / "tests").glob("*.py")} | {"conftest"}
# It runs inside an earlier commit's checkout, on that tree's own tests/ (not this one's): how the
# earlier serving code was started there.
EARLIER_TREE_DRIVER = "bench/baseline_server.py"
WORKER_SIDE = ["handler_service", "user_code", "mms_requests", "together", "load_failure", "pytorch_defaults"]


def imported(path):
    """The top-level names and full dotted names a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names |= {alias.name, alias.name.split(".")[0]}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, node.module.split(".")[0]}
            names |= {"%s.%s" % (node.module, alias.name) for alias in node.names}
    return names


def sources(*folders):
    return [path for folder in folders for path in sorted((REPO / folder).rglob("*.py"))]


def offenders(paths, forbidden):
    return {str(path.relative_to(REPO)): sorted(imported(path) & forbidden) for path in paths
            if imported(path) & forbidden}


def test_product_code_imports_no_tool_around_it():
    assert offenders(sources("code", "container"), TEST_MODULES | {"harness", "bench", "local_mode", "cloud"}) == {}


def test_bench_and_harness_do_not_import_tests():
    ours = [p for p in sources("bench", "harness") if str(p.relative_to(REPO)) != EARLIER_TREE_DRIVER]
    assert offenders(ours, TEST_MODULES) == {}
    # Nor put this repository's tests/ on their import path.
    assert [str(p) for p in ours if 'REPO / "tests"' in p.read_text()] == []


def test_local_mode_does_not_import_cloud():
    assert offenders(sources("local_mode"), {"cloud"}) == {}


def test_the_worker_side_does_not_import_the_serve_entry_point():
    package = REPO / "container" / "sagemaker_mnist_container"
    worker = [package / ("%s.py" % name) for name in WORKER_SIDE] + sources("code")
    assert offenders(worker, {"sagemaker_mnist_container.serving", "sagemaker_mnist_container.endpoint_setup"}) == {}


def test_the_checks_see_a_forbidden_import(tmp_path):
    # The parser itself: an import of each kind is found.
    sample = tmp_path / "sample.py"
    sample.write_text("import support\nfrom sagemaker_mnist_container import serving\nfrom cloud.common import x\n")
    assert {"support", "sagemaker_mnist_container.serving", "cloud"} <= imported(sample)
