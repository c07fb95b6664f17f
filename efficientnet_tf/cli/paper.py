"""``paper TABLE``: one of the paper's Tables 2, 3, 4 or 7 beside what is measured here."""
from __future__ import annotations

from efficientnet_tf.cli.errors import UsageError
from efficientnet_tf.cli.flags import default_of
from efficientnet_tf.scaling import latency, paper

TABLES = ("2", "3", "4", "7")


def _paper(args) -> int:
    if args.table == "4":
        print(latency.format_table4(latency.table4(args.runs, args.size), args.runs), flush=True)
        return 0
    if args.size is not None or args.runs != default_of(latency.table4, "runs"):
        raise UsageError("--runs and --size time table 4 only")
    print(paper.format_table(args.table, paper.measure(paper.TABLES[args.table])), flush=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("paper", help="the paper's Table 2, 3, 4 or 7: its figures (quoted) beside ours (measured)")
    p.add_argument("table", choices=TABLES, help="2: B0-B7; 3: MobileNetV1/V2 and ResNet-50 scaled; "
                   "4: CPU latency at batch 1 on one thread; 7: B0 scaled by one dimension or compound")
    p.add_argument("--runs", type=int, default=default_of(latency.table4, "runs"),
                   help="table 4: timed runs per model, averaged (default: %(default)s, as the paper)")
    p.add_argument("--size", type=int, default=None,
                   help="table 4: one input size for every model, for a quick check (default: each model's own)")
    p.set_defaults(func=_paper)
