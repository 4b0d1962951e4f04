"""``tais battery list`` and ``tais battery show NAME``: the built-in benchmarks, and what one loads to.

``list`` prints each benchmark's name, tasks with their outcome rules, whether its default source works offline,
and the source. ``show NAME`` loads it (fetching and caching the source when needed) and prints, per task, the item
count, outcome rule, scorer, source, the sha256 pin of its content and the first items. ``--source`` loads a local
copy instead (``--source file:xstest_prompts.csv``); ``--json`` prints one JSON object.

Examples: ``tais battery list``; ``tais battery show advbench``; ``tais battery show smoke --items 5 --json``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("battery", help="list the built-in benchmarks, or load and show one",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="battery_command", metavar="ACTION", parser_class=type(p))
    lst = sub.add_parser("list", help="the built-in benchmarks")
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    lst.set_defaults(func=run_list)
    show = sub.add_parser("show", help="load a benchmark and show its tasks, counts and sha256 pins")
    show.add_argument("name", help="benchmark name (see `tais battery list`)")
    show.add_argument("--source", help="load from this source instead of the default (e.g. file:PATH)")
    show.add_argument("--limit", type=int, help="keep the first N items of each task")
    show.add_argument("--items", type=int, default=3, metavar="K", help="show the first K items per task (default 3)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=run_show)
    p.set_defaults(func=lambda args: p.error("choose an action: list or show"))


def run_list(args: argparse.Namespace) -> int:
    from tais.battery import BENCHMARKS
    from tais.battery.registry import PRESETS

    rows = [{"name": b.name, "tasks": {part.task: part.outcome for part in b.parts}, "offline": b.offline,
             "source": b.source, "split": b.split, "license": b.license, "description": b.description}
            for b in BENCHMARKS.values()]
    presets = [{"name": p.name, "description": p.description, "seed": p.seed,
                "entries": [dict(e) for e in p.entries]} for p in PRESETS.values()]
    if args.json:
        print(json.dumps({"benchmarks": rows, "presets": presets}, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        tasks = ", ".join(f"{t} ({o})" for t, o in r["tasks"].items())
        where = "offline:" if r["offline"] else "online (or --source file:...):"
        print(f"{r['name']:<{width}}  {tasks}")
        split = f" (split {r['split']})" if r["split"] else ""
        print(f"{'':<{width}}  {where} {r['source']}{split}  [{r['license']}]")
    for p in presets:
        sizes = ", ".join(f"{e['benchmark']} {e['sample']}" for e in p["entries"])
        print(f"preset {p['name']}: {sizes} (seed {p['seed']})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tais.battery import get_benchmark, load_tasks
    from tais.errors import ConfigError

    get_benchmark(args.name, where=None)
    spec: dict = {"benchmark": args.name}
    if args.source:
        spec["source"] = args.source
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError("--limit must be >= 1")
        spec["limit"] = args.limit
    tasks = load_tasks(spec, base_dir=Path.cwd(), where=f"benchmark {args.name}")
    shown = max(args.items, 0)
    body = [{"name": t.name, "items": len(t.items), "outcome": t.outcome, "scorer": t.scorer, "source": t.source,
             "sha256": t.sha256, "system_prompt": t.system_prompt,
             "first_items": [item.to_dict() for item in t.items[:shown]]} for t in tasks]
    if args.json:
        print(json.dumps({"benchmark": args.name, "tasks": body}, indent=2, ensure_ascii=False))
        return 0
    for t in body:
        print(f"{t['name']}: {t['items']} items, outcome {t['outcome']}, scorer {t['scorer']}")
        print(f"  source  {t['source']}")
        print(f"  sha256  {t['sha256']}")
        if t["system_prompt"]:
            print(f"  system  {_short(t['system_prompt'], 100)}")
        for item in t["first_items"]:
            choices = f"  [{' | '.join(item['choices'])}] -> {item['answer']}" if item["choices"] else ""
            print(f"  {item['id']}: {_short(item['prompt'], 90)}{choices}")
    return 0


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"
