"""Throughput of the paired statistics: 1,000,000 prompt pairs across 20 tasks x 3 contrasts (60 cells).

One command: ``python benchmarks/stats_throughput.py [--pairs 1000000] [--tasks 20] [--contrasts 3] [--repeat 5]``.

Times, on synthetic 0/1 outcomes (generation not timed), everything the screen computes per cell from the outcome
arrays: the 2x2 counts, the Tango interval and TOST p-value, exact and mid-p McNemar, Wilson intervals on both rates,
Cohen's h, Holm across the 60 cells, one Mantel-Haenszel pooled odds ratio per contrast, and the verdict with the
prompts still needed for every cell. Two ways side by side: vectorised over all cells at once, and a plain loop that
calls the scalar functions cell by cell. Prints the figures and a final JSON line; the target is < 5 s for the
vectorised path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from tais.screen.verdict import Thresholds, decide_cell
from tais.stats import (
    PairedTable,
    cohens_h,
    holm,
    mantel_haenszel_paired,
    mcnemar_exact,
    mcnemar_midp,
    paired_counts,
    paired_table,
    paired_tost,
    wilson_interval,
)


def synthetic_outcomes(pairs: int, cells: int, seed: int = 0):
    """Per cell: a base rate, a discordance rate (0.2% to 6%) split evenly between the two directions, and in one
    cell in six an extra shift of 2 to 5pp of the candidate's losses; the rest of the pairs agree."""
    rng = np.random.default_rng(seed)
    cell = np.sort(rng.integers(0, cells, pairs))
    base = rng.uniform(0.05, 0.95, cells)[cell]
    discordance = rng.uniform(0.002, 0.06, cells)
    shift = np.where(np.arange(cells) % 6 == 5, rng.uniform(0.02, 0.05, cells), 0.0)
    u = rng.random(pairs)
    loss = u < (discordance / 2 + shift)[cell]
    gain = (u >= (discordance / 2 + shift)[cell]) & (u < (discordance + shift)[cell])
    same = rng.random(pairs) < base
    y_ref = np.where(loss, True, np.where(gain, False, same))
    y_cand = np.where(loss, False, np.where(gain, True, same))
    return y_ref, y_cand, cell


def vectorised(y_ref, y_cand, cell, n_cells, contrasts, thresholds):
    a, b, c, d = paired_counts(y_ref, y_cand, cells=cell, n_cells=n_cells)
    n = a + b + c + d
    tost = paired_tost(b, c, n, margin=thresholds.margin, alpha=thresholds.alpha)
    p_exact = mcnemar_exact(b, c)
    p_mid = mcnemar_midp(b, c)
    wr = wilson_interval(a + b, n)
    wc = wilson_interval(a + c, n)
    h = cohens_h((a + c) / n, (a + b) / n)
    p_holm = holm(p_exact)
    pooled = [mantel_haenszel_paired(b[k::contrasts], c[k::contrasts]) for k in range(contrasts)]
    decisions = [
        decide_cell(table=PairedTable(int(a[i]), int(b[i]), int(c[i]), int(d[i])),
                    tost=_cell_tost(tost, i), mcnemar_p_holm=float(p_holm[i]), cohens_h=float(h[i]), leaks=0,
                    thresholds=thresholds)
        for i in range(n_cells)
    ]
    return tost, p_exact, p_mid, wr, wc, h, p_holm, pooled, decisions


def _cell_tost(tost, i):
    from tais.stats import TostResult

    return TostResult(float(tost.p_value[i]), bool(tost.equivalent[i]), float(tost.ci_low[i]),
                      float(tost.ci_high[i]), tost.margin, tost.alpha)


def per_cell_loop(y_ref, y_cand, cell, n_cells, contrasts, thresholds):
    bounds = np.searchsorted(cell, np.arange(n_cells + 1))
    rows = []
    for i in range(n_cells):
        t = paired_table(y_ref[bounds[i]:bounds[i + 1]].astype(int), y_cand[bounds[i]:bounds[i + 1]].astype(int))
        rows.append((t, paired_tost(t.b, t.c, t.n, thresholds.margin, thresholds.alpha), mcnemar_exact(t.b, t.c),
                     mcnemar_midp(t.b, t.c), wilson_interval(t.a + t.b, t.n), wilson_interval(t.a + t.c, t.n),
                     cohens_h(t.p_candidate, t.p_reference)))
    p_holm = holm([r[2] for r in rows])
    pooled = [mantel_haenszel_paired([r[0].b for r in rows[k::contrasts]], [r[0].c for r in rows[k::contrasts]])
              for k in range(contrasts)]
    decisions = [decide_cell(table=r[0], tost=r[1], mcnemar_p_holm=float(p_holm[i]), cohens_h=r[6], leaks=0,
                             thresholds=thresholds) for i, r in enumerate(rows)]
    return rows, p_holm, pooled, decisions


def best_of(repeat: int, fn, *args):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(pairs: int, tasks: int, contrasts: int, repeat: int) -> dict:
    n_cells = tasks * contrasts
    thresholds = Thresholds()
    y_ref, y_cand, cell = synthetic_outcomes(pairs, n_cells)
    t_vec, vec = best_of(repeat, vectorised, y_ref, y_cand, cell, n_cells, contrasts, thresholds)
    t_loop, loop = best_of(repeat, per_cell_loop, y_ref, y_cand, cell, n_cells, contrasts, thresholds)
    same = (np.allclose(vec[0].ci_low, [r[1].ci_low for r in loop[0]])
            and np.allclose(vec[6], loop[1])
            and [(d.verdict, d.n_more) for d in vec[8]] == [(d.verdict, d.n_more) for d in loop[3]])
    verdicts = [d.verdict.value for d in vec[8]]
    return {"pairs": pairs, "cells": n_cells, "vectorised_s": round(t_vec, 4), "loop_s": round(t_loop, 4),
            "paths_agree": bool(same), "verdicts": {v: verdicts.count(v) for v in ("PASS", "FAIL", "INCONCLUSIVE")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--contrasts", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small-pairs", type=int, default=20_000,
                        help="second run with few pairs per cell, so that many cells are INCONCLUSIVE and need the "
                             "prompts-to-decide estimate")
    args = parser.parse_args()
    runs = [measure(p, args.tasks, args.contrasts, args.repeat) for p in (args.pairs, args.small_pairs)]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}; "
          f"best of {args.repeat}")
    print(f"{'pairs':>10} {'cells':>6} {'vectorised s':>13} {'loop s':>8} {'M pairs/s':>10}  agree  verdicts")
    for r in runs:
        print(f"{r['pairs']:>10,} {r['cells']:>6} {r['vectorised_s']:>13.3f} {r['loop_s']:>8.3f} "
              f"{r['pairs'] / r['vectorised_s'] / 1e6:>10.1f}  {str(r['paths_agree']):<5}  {r['verdicts']}")
    main_run = runs[0]
    print(json.dumps({
        "benchmark": "stats_throughput", "repeat": args.repeat, "target_s": 5.0,
        "pairs": main_run["pairs"], "cells": main_run["cells"], "vectorised_s": main_run["vectorised_s"],
        "loop_s": main_run["loop_s"], "meets_target": main_run["vectorised_s"] < 5.0,
        "paths_agree": all(r["paths_agree"] for r in runs), "runs": runs,
    }))


if __name__ == "__main__":
    main()
