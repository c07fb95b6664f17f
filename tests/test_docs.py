"""The documentation: a short README that links every docs/ page, pages that describe the software
(no development history), benchmark figures that each carry their date, machine and command, and an
architecture page that follows the package's tree and import rules. Names the docs use (modules,
files, subcommands, flags) must exist."""
import argparse
import datetime
import pathlib
import re

import pytest

import efficientnet_tf
from test_architecture import ALLOWED

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = pathlib.Path(efficientnet_tf.__file__).parent
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 170

HISTORY = {
    "a load average": re.compile(r"load average", re.IGNORECASE),
    "a commit hash": re.compile(r"`(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}`"),
    "a session number": re.compile(r"\bsession [0-9]", re.IGNORECASE),
}
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`]+)`")


def _pages():
    return sorted(p for p in DOCS.rglob("*") if p.is_file())


def _docs():
    return [README] + [p for p in _pages() if p.suffix == ".md"]


def _text(path):
    return path.read_text(encoding="utf-8")


def _id(path):
    return str(path.relative_to(REPO))


def test_readme_is_a_landing_page():
    lines = len(_text(README).splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_every_docs_page_is_linked_from_the_readme():
    assert _pages(), "docs/ is empty"
    linked = {(REPO / link.split("#")[0]).resolve() for link in LINK.findall(_text(README))}
    missing = [_id(p) for p in _pages() if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("doc", _docs(), ids=_id)
def test_every_relative_link_resolves(doc):
    broken = []
    for link in LINK.findall(_text(doc)):
        target = link.split("#")[0]
        if not target or re.match(r"[a-z]+:", target):  # an anchor, https:, mailto:
            continue
        if not (doc.parent / target).exists():
            broken.append(link)
    assert not broken, f"{_id(doc)} links to missing {broken}"


@pytest.mark.parametrize("doc", _docs(), ids=_id)
def test_no_development_history(doc):
    found = [f"{what}: {m.group(0)!r}" for what, pattern in HISTORY.items() for m in pattern.finditer(_text(doc))]
    assert not found, f"{_id(doc)} holds development history: {found}"


@pytest.mark.parametrize("doc", [p for p in _pages() if p.suffix == ".md"], ids=_id)
def test_every_page_starts_with_a_summary_paragraph(doc):
    blocks = [b.strip() for b in re.split(r"\n\s*\n", _text(doc)) if b.strip()]
    assert blocks[0].startswith("# ") and "\n" not in blocks[0], f"{_id(doc)} must start with one '# Title' line"
    summary = blocks[1]
    assert not summary.startswith(("#", "|", "-", "*", "```", "1.")), f"{_id(doc)}: a paragraph must follow the title"
    assert len(summary) >= 200, f"{_id(doc)}: the summary paragraph is too short to say what the page covers"


# docs/benchmarks.md: every figure is a '### ' block under '## Figures' with these three lines.
FIELDS = ("Date", "Machine", "Command")


def _sections(text, level):
    """(heading, body) for each heading of exactly ``level`` '#'s; what precedes the first is ('', ...)."""
    parts = re.split(rf"^{'#' * level} (.+)$", text, flags=re.MULTILINE)
    return [("", parts[0])] + list(zip(parts[1::2], parts[2::2]))


def test_every_benchmark_figure_names_its_date_machine_and_command():
    text = _text(DOCS / "benchmarks.md")
    sections = dict(_sections(text, 2))
    assert "Figures" in sections, "docs/benchmarks.md needs a '## Figures' section"
    figures = [(h, body) for h, body in _sections(sections["Figures"], 3) if h]
    assert figures, "no '### ' figure block under '## Figures'"
    assert not _sections(sections["Figures"], 3)[0][1].strip(), "text under '## Figures' outside a '### ' block"
    for heading, body in figures:
        fields = dict(re.findall(r"^(Date|Machine|Command): (.+)$", body, flags=re.MULTILINE))
        missing = [f for f in FIELDS if f not in fields]
        assert not missing, f"figure {heading!r} lacks {missing} lines"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fields["Date"].strip()), f"{heading!r}: Date is YYYY-MM-DD"
        datetime.date.fromisoformat(fields["Date"].strip())
        assert re.search(r"\d+ cores", fields["Machine"]), f"{heading!r}: Machine names the CPU and its cores"
        assert re.search(r"`[^`]+`", fields["Command"]), f"{heading!r}: Command is a command in backticks"
        assert "|" in body, f"figure {heading!r} has no table of figures"
    for heading, body in _sections(text, 2):  # tables elsewhere may only list the scripts
        if heading == "Figures":
            continue
        for row in (line for line in body.splitlines() if line.startswith("|")):
            first = row.strip("|").split("|")[0].strip()
            assert first in ("script", "---") or first.startswith("`benchmarks/"), (
                f"a table row outside '## Figures' ({heading!r}) with no date, machine or command: {row}")


def test_benchmark_commands_name_scripts_and_subcommands_that_exist():
    for command in re.findall(r"^Command: `([^`]+)`", _text(DOCS / "benchmarks.md"), flags=re.MULTILINE):
        for script in re.findall(r"benchmarks/\S+\.py", command):
            assert (REPO / script).is_file(), script


# docs/architecture.md follows the tree and the import rules of tests/test_architecture.py.
def _folders():
    return sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_architecture_names_every_folder_and_part():
    text = _text(DOCS / "architecture.md")
    missing = [f"{f}/" for f in _folders() if f"`{f}/`" not in text]
    missing += [k for k in ALLOWED if not re.search(rf"`{re.escape(k)}(\.py|/)?`", text)]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_architecture_import_table_is_the_tested_one():
    text = _text(DOCS / "architecture.md")
    table = {}
    for row in re.findall(r"^\| `(\w+)` \| (.+) \|$", text, flags=re.MULTILINE):
        part, allowed = row
        if part in ALLOWED:
            table[part] = set(re.findall(r"`(\w+)`", allowed))
    assert table == ALLOWED, "docs/architecture.md's import table differs from ALLOWED in tests/test_architecture.py"


# Names the docs use must exist.
def _defines(path: pathlib.Path, name: str) -> bool:
    source = path.read_text(encoding="utf-8")
    return bool(re.search(rf"^\s*(def|class)\s+{name}\b|^{name}\s*[:=]|^from .* import .*\b{name}\b"
                          rf"|^    {name},$", source, flags=re.MULTILINE))


@pytest.mark.parametrize("doc", _docs(), ids=_id)
def test_module_paths_and_names_exist(doc):
    text = _text(doc)
    wrong = []
    for dotted in sorted(set(re.findall(r"\befficientnet_tf(?:\.[A-Za-z_]\w*)+", text))):
        parts, path = dotted.split(".")[1:], PACKAGE
        while parts and ((path / parts[0]).is_dir() or (path / f"{parts[0]}.py").is_file()):
            path = path / parts.pop(0)
        module = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if parts and not _defines(module, parts[0]):
            wrong.append(dotted)
    for rel in sorted(set(re.findall(r"`((?:[\w.]+/)+\w+\.py)`", text))):
        if not any((base / rel).is_file() for base in (REPO, PACKAGE)):
            wrong.append(rel)
    assert not wrong, f"{_id(doc)} names what does not exist: {wrong}"


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _commands(text):
    """Every ``efficientnet-tf ...`` command line in code: fenced lines and inline code spans."""
    code = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    code += [span.replace("\n", " ") for span in INLINE_CODE.findall(FENCE.sub("", text))]
    for snippet in code:
        snippet = snippet.split(" #")[0]
        if "efficientnet-tf" in snippet:
            yield snippet[snippet.index("efficientnet-tf"):].split(";")[0]


@pytest.mark.parametrize("doc", _docs(), ids=_id)
def test_commands_name_real_subcommands_and_flags(doc):
    from efficientnet_tf.cli import build_parser

    root = build_parser()
    wrong = []
    for command in _commands(_text(doc)):
        tokens = [t.strip("[](),:.") for t in command.split()[1:]]
        parser, options = root, {"--debug", "--help", "-h"}
        for token in tokens:
            if token.startswith("-"):
                if token.startswith("--") and token.split("=")[0] not in options:
                    wrong.append(f"{command!r}: {token}")
            elif token in _subparsers(parser):
                parser = _subparsers(parser)[token]
                options |= set(parser._option_string_actions)
            elif parser is root:  # a placeholder (SUBCOMMAND) ends the check; anything else is wrong
                if not token.isupper():
                    wrong.append(f"{command!r}: no subcommand {token!r}")
                break
    assert not wrong, f"{_id(doc)}: {wrong}"
