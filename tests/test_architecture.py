"""The package's shape: one-way imports between its folders (docs/architecture.md), no import cycle,
and no module over 300 lines."""
import ast
import pathlib

import efficientnet_tf

ROOT = pathlib.Path(efficientnet_tf.__file__).parent
# What each part may import from the package (itself aside). cli may import everything; nothing imports it.
ALLOWED = {
    "files": set(),
    "offline": set(),
    "preprocessing": set(),
    "run_dir": {"preprocessing"},
    "data": {"preprocessing"},
    "weights": set(),
    "models": {"weights"},
    "serving": {"models", "weights", "data", "preprocessing", "run_dir"},
    "training": {"models", "weights", "data", "serving", "preprocessing", "run_dir"},
    "scaling": {"models", "data", "training"},
    "cli": {"models", "weights", "data", "serving", "training", "scaling", "preprocessing", "run_dir"},
    "__init__": {"models", "weights"},
    "__main__": {"cli"},
}
for _part_name, _allowed in ALLOWED.items():  # files.py (artifacts whole), offline.py (the switch) serve all
    if _part_name not in ("files", "offline", "preprocessing"):
        _allowed.update({"files", "offline"})


def _part(module: str) -> str:
    """``efficientnet_tf.serving.cam`` -> ``serving``; ``efficientnet_tf`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path, top_level_only: bool = False):
    """(imported module, line) for every import of the package in ``path``, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("efficientnet_tf"):
            base = ROOT.parent.joinpath(*node.module.split("."))
            for alias in node.names:  # a submodule (from efficientnet_tf import preprocessing), else the module
                sub = base / alias.name
                is_module = sub.is_dir() or sub.with_suffix(".py").is_file()
                yield (f"{node.module}.{alias.name}" if is_module else node.module), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("efficientnet_tf"):
                    yield alias.name, node.lineno


def _modules():
    return sorted(ROOT.rglob("*.py"))


def test_every_part_imports_only_what_it_may():
    assert set(ALLOWED) >= {_part(_module_name(p)) for p in _modules()}
    wrong = []
    for path in _modules():
        mine = _part(_module_name(path))
        for target, line in _imports(path):
            theirs = _part(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({mine}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_rules_are_one_way():
    for a, allowed in ALLOWED.items():
        for b in allowed:
            assert a not in ALLOWED.get(b, set()), f"{a} and {b} may import each other"


def test_no_import_cycle_between_modules():
    graph = {}
    for path in _modules():
        graph[_module_name(path)] = {t for t, _ in _imports(path, top_level_only=True)}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_module_over_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_the_data_pipeline_never_imports_the_model():
    for path in (ROOT / "data").rglob("*.py"):
        assert all(_part(t) in ("data", "preprocessing", "files", "offline") for t, _ in _imports(path)), path
