"""The Colab notebooks in notebooks/: static checks, and each one executed top to bottom with FAST on.

Execution uses nbclient with the "python3" kernel, which jupyter_client resolves to this
interpreter (checked below), in a temporary working directory so that nothing is written into
the checkout. ``EFFICIENTNET_TF_FAST=1`` shrinks image sizes, steps and model lists. The run is offline: the
weights and the TFDS dataset the notebooks download on first use are put in place first
(``notebook_helpers``), so CI runs the cells a Colab user runs.
"""
from __future__ import annotations

import ast
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

from notebook_helpers import fill_weights_cache, prepare_tf_flowers

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = [
    "01_quickstart.ipynb",
    "02_transfer_learning.ipynb",
    "03_compound_scaling.ipynb",
    "04_class_activation_maps.ipynb",
    "05_export_and_serve.ipynb",
]
REPO = "efficientnet-tf/efficientnet_tf"
FAST_ENV = "EFFICIENTNET_TF_FAST"
CELL_TIMEOUT_S = 300
IMAGE_TYPES = {"image/png", "image/jpeg", "image/svg+xml"}
MAX_IMAGE_CHARS = 120_000  # base64 of a ~90 KB PNG: stored plots stay small


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _private(name: str) -> bool:
    """``_x`` is private; dunders such as ``__version__`` are public."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _python(source: str) -> str:
    """Cell source with IPython magics and shell escapes blanked, so that ast can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def test_all_notebooks_present():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_and_has_colab_badge(path):
    nb = _read(path)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    url = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name}"
    assert url in first.source, f"{path.name}: the first cell needs an Open in Colab badge linking {url}"
    assert "colab-badge.svg" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_installs_on_colab_only(path):
    source = _code(_read(path))[0].source
    assert 'IN_COLAB = "google.colab" in sys.modules' in source
    assert f'REPO = "{REPO}"' in source
    assert "git+https://github.com/{REPO}" in source
    tree = ast.parse(_python(source))
    # The install runs only under `if IN_COLAB:`; at top level the cell only imports and assigns.
    for node in tree.body:
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.If)), ast.dump(node)[:80]
        if isinstance(node, ast.If):
            assert isinstance(node.test, ast.Name) and node.test.id == "IN_COLAB"
            assert not node.orelse
    install_lines = [l for l in source.splitlines() if "pip" in l and not l.lstrip().startswith("#")]
    assert install_lines and all(l.startswith((" ", "\t")) for l in install_lines), "pip only inside `if IN_COLAB:`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reads_fast_flag(path):
    sources = "\n".join(c.source for c in _code(_read(path))[:2])
    assert f'FAST = os.environ.get("{FAST_ENV}", "0") == "1"' in sources


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_cleared_except_images(path):
    for i, cell in enumerate(_code(_read(path))):
        assert cell.get("execution_count") is None, f"cell {i} has an execution count"
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert out.output_type == "display_data", f"cell {i} keeps a {out.output_type} output"
            images = set(data) & IMAGE_TYPES
            assert images, f"cell {i} keeps a non-image output: {sorted(data)}"
            assert set(data) <= IMAGE_TYPES | {"text/plain"}, f"cell {i}: {sorted(data)}"
            for kind in images:
                assert len(data[kind]) <= MAX_IMAGE_CHARS, f"cell {i}: a {len(data[kind])}-character {kind}"


_PRIVATE = [
    re.compile(r"\bkeras\.src\b"),
    re.compile(r"\btensorflow\.python\b"),
    re.compile(r"\befficientnet_tf(\.\w+)*\._(?!_)"),  # efficientnet_tf._x / efficientnet_tf.mod._x
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_public_api_only(path):
    for i, cell in enumerate(_code(_read(path))):
        for pattern in _PRIVATE:
            assert not pattern.search(cell.source), f"cell {i} uses a private module: {pattern.pattern}"
        tree = ast.parse(_python(cell.source))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "efficientnet_tf":
                for a in node.names:
                    assert not _private(a.name), f"cell {i} imports private {node.module}.{a.name}"
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "efficientnet_tf":
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):  # et._something
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                assert not _private(node.attr), f"cell {i} uses private {node.value.id}.{node.attr}"


def test_readme_links_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in EXPECTED if f"notebooks/{name}" not in readme]
    assert not missing, f"README does not link {missing}"


def test_kernel_is_this_interpreter():
    from jupyter_client.manager import KernelManager

    assert KernelManager(kernel_name="python3").format_kernel_cmd()[0] == sys.executable


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    """(weights cache, TFDS data_dir) holding what the notebooks download on first use."""
    root = tmp_path_factory.mktemp("downloads")
    fill_weights_cache(root / "cache")
    assert prepare_tf_flowers(root / "tfds") == 40
    return root / "cache", root / "tfds"


# What each notebook must print: the classes it found (a real photo's top-5, the flowers it trained on).
PRINTS = {
    "01_quickstart": [r"flower\.jpg, top-5:\n(  0\.\d{3}  \w+\n){5}"],
    "02_transfer_learning": [r"36 training and 4 held-out images; classes: \['dandelion', 'daisy', 'tulips', "
                             r"'sunflowers', 'roses'\]", r"validation accuracy \d\.\d{3}"],
    "04_class_activation_maps": [r"flower\.jpg: class \d+ \(.+\)\nchina\.jpg: class \d+ \(.+\)"],
    "05_export_and_serve": [r"ONNX Runtime top-1: (\[.*\]) \| SavedModel top-1: \1\n"],
}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_fast(path, tmp_path, monkeypatch, downloads):
    """Executes every cell in order in a fresh kernel, offline, with the downloads in place; any cell
    error fails the test, and what it classified must be printed."""
    from nbclient import NotebookClient

    cache, tfds_dir = downloads
    monkeypatch.setenv(FAST_ENV, "1")
    monkeypatch.setenv("EFFICIENTNET_TF_OFFLINE", "1")  # no network in tests: what is not in place fails
    monkeypatch.setenv("EFFICIENTNET_TF_CACHE", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # not this machine's keras cache
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    nb = _read(path)
    before = sorted(os.listdir(NOTEBOOK_DIR))
    start = time.monotonic()
    NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    print(f"{path.name}: {time.monotonic() - start:.1f} s with FAST")
    errors = [o for c in _code(nb) for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    printed = "".join(o.get("text", "") for c in _code(nb) for o in c.get("outputs", []) if o.output_type == "stream")
    for pattern in PRINTS.get(path.stem, []):
        assert re.search(pattern, printed), f"{path.name} did not print {pattern!r}:\n{printed[-2000:]}"
    assert sorted(os.listdir(NOTEBOOK_DIR)) == before, "the notebook wrote into notebooks/"
