"""Every subcommand answers bad input with one line, ``efficientnet-tf SUBCOMMAND: error: ...``, and exit 2."""
import pytest

from efficientnet_tf.cli import build_parser, main

SUBCOMMANDS = ["train", "export", "predict", "cam", "convert", "summary", "scale-search", "paper", "data-service",
               "weights"]


def _bad_input(tmp_path):
    """(subcommand, argv, what the error line must say): one bad input per subcommand."""
    missing = str(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    return [
        ("train", ["train", "--batch-size", "many"], "argument --batch-size: invalid int value: 'many'"),
        ("train", ["train", "--dataset", f"folder:{empty}", "--dry-run"], None),  # dry run reads no data: not an error
        ("train", ["train", "--dataset", f"folder:{empty}", "--model-dir", str(tmp_path / "run"), "--epochs", "1"],
         "no class sub-folders"),
        ("train", ["train", "--progressive", "3", "--min-image-size", "64", "--dry-run"],
         "--min-image-size 64 must be between 0 and the last stage's 32"),
        ("train", ["train", "--progressive", "50", "--epochs", "4", "--dry-run"],
         "progressive learning has 50 stages but the run only 4 epochs"),
        ("export", ["export", "--model-dir", missing], f"{missing}: no such file or directory"),
        ("export", ["export", "--model", "b0"], "--out is required with --model"),
        ("predict", ["predict", "--model-dir", str(empty), "x.jpg"], f"no .keras model in {empty}"),
        ("cam", ["cam", "x.jpg", "--model-dir", missing, "--out", "o.png"], f"{missing}: no such file or directory"),
        ("cam", ["cam", "x.jpg", "--model", "b0", "--out", "o.png", "--method", "heat"], "argument --method: invalid choice"),
        ("convert", ["convert", missing, "--model", "b0", "--out", str(tmp_path / "w.h5")], missing),
        ("summary", ["summary", "b99"], "unknown EfficientNet variant 'b99'"),
        ("scale-search", ["scale-search", "--budget", "two"], "argument --budget: invalid int value: 'two'"),
        ("paper", ["paper", "5"], "argument table: invalid choice: '5'"),
        ("data-service", ["data-service", "worker", "--dispatcher", "grpc://x:1", "--port", "0"],
         "--dispatcher must be HOST:PORT, got 'grpc://x:1'"),
        ("weights", ["weights", "fetch", "nope", "--model", "b0"], "unknown weights tag 'nope'; the tags are: imagenet, "),
    ]


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in out, name
    assert sorted(build_parser()._subparsers._group_actions[0].choices) == sorted(SUBCOMMANDS)


def test_each_subcommand_gives_one_line_and_exit_2_on_bad_input(tmp_path, capsys):
    cases = _bad_input(tmp_path)
    assert {c[0] for c in cases} == set(SUBCOMMANDS)
    for name, argv, expected in cases:
        status = main(argv)
        err = capsys.readouterr().err
        if expected is None:
            assert status == 0, (argv, err)
            continue
        lines = [l for l in err.splitlines() if "error:" in l or "Traceback" in l]
        assert status == 2, (argv, err)
        assert len(lines) == 1 and lines[0].startswith(f"efficientnet-tf {name}"), (argv, err)
        assert expected in lines[0], (argv, lines[0])


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "export", "--model-dir", str(tmp_path / "missing")])
