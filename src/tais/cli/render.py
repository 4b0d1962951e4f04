"""What the screen commands print: the verdict table, the speed table, and the per-arm progress bars (rich).

The tables go to stdout; progress bars go to stderr, so ``tais run CONFIG > verdict.txt`` keeps only the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from tais.pipeline.run import ProgressEvent
from tais.report.formatting import divergence_counts, interval, number, show_token, signed, summary
from tais.report.junit import screen_junit, verdict_table_dict
from tais.screen.result import ScreenResult
from tais.types import DivergenceClass, Role, Verdict

MAX_LEAKS_SHOWN = 3
VERDICT_STYLE = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.INCONCLUSIVE: "bold yellow"}


def stdout_console() -> Console:
    return Console(file=sys.stdout, width=max(160, Console(file=sys.stdout).width))


def verdict_table(result: ScreenResult) -> Table:
    """One row per (contrast, task) cell: candidates first, then the A/A null contrasts (reported, not judged)."""
    table = Table(title="tais screen", title_justify="left")
    for header in ("contrast", "task", "n", "identical", "first divergences", "p_ref", "p_cand", "diff [CI]", "h",
                   "A/A |h|", "verdict"):
        table.add_column(header, no_wrap=header != "first divergences")
    for cell in _ordered(result):
        verdict = Text(cell.verdict.value, style=VERDICT_STYLE[cell.verdict])
        if cell.role is not Role.CANDIDATE:
            verdict = Text("null arm", style="dim")
        table.add_row(cell.contrast, cell.task, str(cell.n), f"{cell.identical_text}/{cell.pairs}",
                      divergence_counts(cell), number(cell.p_reference), number(cell.p_candidate),
                      f"{signed(cell.diff)} {interval(cell.ci_low, cell.ci_high)}", signed(cell.cohens_h),
                      number(cell.null_h), verdict)
    return table


def reason_lines(result: ScreenResult) -> list[Text]:
    """One line per candidate cell that did not pass: ``contrast / task: VERDICT: reasons``."""
    lines = []
    for cell in _ordered(result):
        if cell.role is not Role.CANDIDATE or cell.verdict == Verdict.PASS:
            continue
        reasons = "; ".join(r.strip().rstrip(".") for r in cell.reasons) or "no reason given"
        lines.append(Text.assemble(f"  {cell.contrast} / {cell.task}: ",
                                   (cell.verdict.value, VERDICT_STYLE[cell.verdict]), f": {reasons}"))
        leaks = [d for d in result.divergences
                 if d.contrast == cell.contrast and d.task == cell.task and d.cls is DivergenceClass.LEAK]
        for d in leaks[:MAX_LEAKS_SHOWN]:
            gap = "absent from the reference's top-k" if d.gap is None else f"gap {d.gap:.2f} nats"
            lines.append(Text(f"      leak: {d.item_id} at token {d.position}: "
                              f"reference {show_token(d.reference_token)}"
                              f", candidate {show_token(d.candidate_token)} ({gap})"))
        if len(leaks) > MAX_LEAKS_SHOWN:
            lines.append(Text(f"      ... and {len(leaks) - MAX_LEAKS_SHOWN} more leaks (see the report)"))
    return lines


def _ordered(result: ScreenResult) -> list:
    return sorted(result.cells, key=lambda c: (c.role is not Role.CANDIDATE, c.contrast, c.task))


def speed_table(result: ScreenResult) -> Table:
    table = Table(title="speed per arm", title_justify="left")
    for header in ("arm", "output tokens", "wall s", "tokens/s", "acceptance", "speedup", "null arm (noise)"):
        table.add_column(header, justify="right" if header != "arm" else "left")
    for s in result.speed:
        table.add_row(s.arm, str(s.output_tokens), f"{s.wall_s:.1f}", number(s.tokens_per_s, 1),
                      number(s.acceptance, 3), "–" if s.speedup is None else f"{s.speedup:.2f}x",
                      "–" if s.null_speedup is None else f"{s.null_speedup:.2f}x")
    return table


def print_result(result: ScreenResult, reports: Mapping[str, Path] | None, out_dir: Path | None,
                 console: Console | None = None) -> None:
    """The verdict table, the speed table, the verdict line and where the reports are."""
    console = console or stdout_console()
    console.print(verdict_table(result))
    reasons = reason_lines(result)
    if reasons:
        console.print("why:")
        for line in reasons:
            console.print(line)
    if result.speed:
        console.print(speed_table(result))
    console.print(Text.assemble("verdict: ", (result.verdict.value, VERDICT_STYLE[result.verdict]),
                                f"  ({summary(result)}; exit code {result.verdict.exit_code})"))
    if out_dir is not None:
        html = out_dir / "report.html"
        console.print(f"report: {html if html.exists() else out_dir}")
        console.print(f"evidence: {out_dir / 'evidence.json'}")


def emit_result(result: ScreenResult, reports: Mapping[str, Path] | None, out_dir: Path | None,
                args: argparse.Namespace) -> None:
    """Print the result as ``args`` ask (tables, the verdict line alone, or JSON) and write the JUnit file."""
    if args.junit is not None:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_bytes(screen_junit(result))
    if args.as_json:
        sys.stdout.write(json.dumps(verdict_table_dict(result), indent=2, allow_nan=False) + "\n")
    elif args.quiet:
        sys.stdout.write(f"verdict: {result.verdict.value}  ({summary(result)}; exit code "
                         f"{result.verdict.exit_code})\n")
    else:
        print_result(result, reports, out_dir)


class _RateColumn(ProgressColumn):
    """``12.3 items/s  456 tok/s  ETA 0:42`` from the fields the progress callback keeps up to date."""

    def render(self, task: Task) -> Text:
        items_s = task.fields.get("items_s")
        tokens_s = task.fields.get("tokens_s")
        eta = task.fields.get("eta")
        if items_s is None:
            return Text(task.fields.get("note", ""), style="dim")
        eta_text = "–" if eta is None else f"{int(eta // 60)}:{int(eta % 60):02d}"
        return Text(f"{items_s:5.2f} items/s  {tokens_s:7.1f} tok/s  ETA {eta_text}")


class ProgressDisplay:
    """Renders :class:`ProgressEvent` s as one rich progress bar per arm (on stderr). Use as a context manager and
    pass the instance as the ``progress`` callback."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.console = Console(file=sys.stderr)
        self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                                 _RateColumn(), console=self.console, disable=not enabled, transient=False)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for label in ("scoring", "re-scoring", "screening"):
            if label in self.tasks and exc[0] is None:
                self.progress.update(self.tasks[label], total=1, completed=1)
        self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase != "generate":
            for done in ("scoring", "re-scoring", "screening"):  # a phase is finished when a later one starts
                if done in self.tasks:
                    self.progress.update(self.tasks[done], total=1, completed=1)
            label = {"score": "scoring", "rescore": "re-scoring"}.get(event.phase, "screening")
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task(label, total=None, note=f"{label} {event.arm}".strip())
            else:
                self.progress.update(self.tasks[label], note=f"{label} {event.arm}".strip())
            return
        if event.arm not in self.tasks:
            note = ", ".join(n for n in (f"{event.cached} from the store" if event.cached else "",
                                         f"on {event.host}" if event.host else "") if n)
            self.tasks[event.arm] = self.progress.add_task(event.arm, total=event.total, note=note)
        fields: dict[str, Any] = {}
        generated = event.done - event.cached
        if generated > 0 and event.elapsed_s > 0:
            items_s = generated / event.elapsed_s
            fields = {"items_s": items_s, "tokens_s": event.output_tokens / event.elapsed_s,
                      "eta": (event.total - event.done) / items_s}
        self.progress.update(self.tasks[event.arm], completed=event.done, total=event.total, **fields)
