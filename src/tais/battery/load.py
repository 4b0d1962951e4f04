"""``load_tasks``: one entry of a config's ``battery:`` list -> tasks with pinned content.

An entry is either a built-in benchmark (see :mod:`tais.battery.registry`)::

    {benchmark: advbench, limit: 50}
    {benchmark: xstest, source: "file:data/xstest_prompts.csv"}

or a preset, a named list of built-in entries with sample sizes and a seed (:data:`tais.battery.registry.PRESETS`)::

    {preset: tais-paper}
    {preset: tais-paper, sources: {bbq: "file:data/bbq"}}

or a task of the user's own::

    {name: mine, source: "file:data.csv", format: csv, columns: {prompt: goal, id: key}, outcome: refusal,
     scorer: refusal-rules, system_prompt: "...", limit: 100, where: {label: unsafe}, sha256: "<pin>"}

Keys: ``source`` is a source string (``file:`` paths are relative to ``base_dir``; an ``hf:`` source is a dataset
repository, when online); ``path`` picks a file inside a folder source; ``format`` is one of
:data:`tais.battery.tables.FORMATS` (default: from the file suffix); ``limit`` keeps the first N items of each task;
``sample`` keeps a fixed-seed sample of N items of each task (``seed``, default 0; see
:mod:`tais.battery.sampling`); ``sha256`` pins the content (a digest, or {task: digest} for entries with several tasks), checked unless
``accept_new_hash: true``. Each returned task carries its ``source`` and ``sha256``.

Worked example::

    >>> from pathlib import Path
    >>> [(t.name, len(t.items), t.outcome) for t in load_tasks({"benchmark": "smoke"}, base_dir=Path("."))]
    [('smoke-harmful', 30, 'refusal'), ('smoke-benign', 30, 'compliance'), ('smoke-mc', 30, 'multiple_choice')]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from tais.battery.mapping import ColumnMapping, filter_rows, items_from_rows
from tais.battery.pinning import check_pins, expected_pins, with_sha256
from tais.battery.mc_rows import adapt, columns_for
from tais.battery.registry import Benchmark, Part, get_benchmark, get_preset
from tais.battery.sampling import sample_items
from tais.sources.resolve import parse_source, resolve, sha256_file
from tais.battery.tables import FORMATS, SUFFIX_FORMATS, guess_format, read_rows
from tais.errors import ConfigError, DataError, SourceError
from tais.types import OUTCOME_RULES, OutcomeRule, Task

BENCHMARK_KEYS = {"benchmark", "source", "path", "columns", "system_prompt", "scorer", "limit", "sample", "seed",
                  "sha256", "accept_new_hash"}
PRESET_KEYS = {"preset", "sources"}
CUSTOM_KEYS = {"name", "source", "path", "format", "columns", "where", "outcome", "scorer", "system_prompt", "limit",
               "sha256", "accept_new_hash"}
DEFAULT_SCORER = {"refusal": "refusal-hybrid", "compliance": "refusal-hybrid", "multiple_choice": "multiple-choice"}
_DATA_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet", ".txt", ".prompt"}


def load_tasks(spec: Mapping[str, Any], *, base_dir: Path, where: str = "battery") -> list[Task]:
    """Load the tasks of one battery entry (``where`` names the config entry in error messages)."""
    if not isinstance(spec, Mapping):
        raise ConfigError("each battery entry must be a mapping", path=where)
    if "preset" in spec:
        return _load_preset(spec, Path(base_dir), where)
    if "benchmark" in spec:
        tasks = _load_benchmark(spec, Path(base_dir), where)
    else:
        tasks = _load_custom(spec, Path(base_dir), where)
    tasks = [with_sha256(t) for t in tasks]
    pins = expected_pins(spec.get("sha256"), [t.name for t in tasks], where=where)
    check_pins(tasks, pins, accept_new=bool(spec.get("accept_new_hash", False)), where=where)
    return tasks


def _check_keys(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, spec)) - allowed)
    if unknown:
        raise ConfigError(f"unknown key; known: {', '.join(sorted(allowed))}", path=where, key=unknown[0])


def _limit(spec: Mapping[str, Any], where: str, key: str = "limit") -> int | None:
    limit = spec.get(key)
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"must be a whole number >= 1, got {limit!r}", path=where, key=key)
    return limit


def _optional_text(spec: Mapping[str, Any], key: str, where: str) -> str | None:
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError("must be a string", path=where, key=key)
    return value


def _load_preset(spec: Mapping[str, Any], base_dir: Path, where: str) -> list[Task]:
    """Every entry of the preset, each sampled with the preset's seed; ``sources`` swaps a benchmark's source."""
    _check_keys(spec, PRESET_KEYS, where)
    preset = get_preset(spec["preset"], where=where)
    sources = spec.get("sources") or {}
    names = [e["benchmark"] for e in preset.entries]
    if not isinstance(sources, Mapping) or any(k not in names for k in sources):
        raise ConfigError(f"a mapping of benchmark name to source; this preset's benchmarks: {', '.join(names)}",
                          path=where, key="sources")
    tasks: list[Task] = []
    for entry in preset.entries:
        entry = {**entry, "seed": preset.seed}
        if entry["benchmark"] in sources:
            entry["source"] = sources[entry["benchmark"]]
        try:
            tasks += load_tasks(entry, base_dir=base_dir, where=where)
        except SourceError as exc:
            if exc.path not in (None, where):
                raise
            raise SourceError(f"preset {preset.name}, benchmark {entry['benchmark']}: {exc.message}", path=exc.path,
                              key=exc.key) from None
    return tasks


def _sample(spec: Mapping[str, Any], where: str) -> tuple[int | None, int]:
    n = _limit(spec, where, "sample")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"must be a whole number, got {seed!r}", path=where, key="seed")
    return n, seed


def _load_benchmark(spec: Mapping[str, Any], base_dir: Path, where: str) -> list[Task]:
    _check_keys(spec, BENCHMARK_KEYS, where)
    bench = get_benchmark(spec["benchmark"], where=where)
    limit = _limit(spec, where)
    sample, seed = _sample(spec, where)
    system_prompt = _optional_text(spec, "system_prompt", where)
    scorer = _optional_text(spec, "scorer", where)
    if bench.name == "smoke":
        from tais.battery.smoke import smoke_tasks

        if "source" in spec or "columns" in spec or "path" in spec:
            raise ConfigError("the smoke battery is built in: it takes no source, path or columns", path=where,
                              key="source")
        tasks = smoke_tasks()
    else:
        source = _optional_text(spec, "source", where) or bench.source
        columns = ColumnMapping.parse(spec["columns"], where=where) if "columns" in spec else None
        tasks = [_load_part(bench, part, source, base_dir, columns, spec.get("path"), where) for part in bench.parts]
    out = []
    for task in tasks:
        items = sample_items(task.items, sample, seed=seed) if sample else task.items
        out.append(dataclasses.replace(
            task, items=items[:limit] if limit else items,
            system_prompt=system_prompt if system_prompt is not None else task.system_prompt,
            scorer=scorer or task.scorer))
    return out


def _load_part(bench: Benchmark, part: Part, source: str, base_dir: Path, columns: ColumnMapping | None,
               inner: Any, where: str) -> Task:
    """One task of a built-in benchmark. A folder source (a hub snapshot, a local copy) is searched for the part's
    file; failing that, for its only data file of the part's format."""
    if inner is not None:
        path = _data_file(source, base_dir, inner, where)
    else:
        path = _data_file(source, base_dir, part.inner_path, where, fallback_suffix=f".{part.fmt}" if part.fmt else "")
    want = bench.file_sha256.get(part.task)
    if source == bench.source and want is not None:
        got = sha256_file(path)
        if got != want:
            raise SourceError(f"{source}: file {path.name} has sha256 {got}, the registry records {want}: the "
                              f"source changed", path=where, key="source")
    mapping = columns or ColumnMapping.parse(part.columns, where=f"registry:{bench.name}")
    fmt = guess_format(path) if path.suffix.lower() in SUFFIX_FORMATS else part.fmt
    return _task_from_file(path, fmt=fmt, name=part.task, mapping=mapping, where_filter=part.where,
                           outcome=part.outcome, scorer=DEFAULT_SCORER[part.outcome], system_prompt=None,
                           source=source, adapter=part.adapter)


def _load_custom(spec: Mapping[str, Any], base_dir: Path, where: str) -> list[Task]:
    _check_keys(spec, CUSTOM_KEYS, where)
    for key in ("name", "source", "outcome"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise ConfigError("required (a string)", path=where, key=key)
    name, outcome = spec["name"].strip(), spec["outcome"]
    if "/" in name:
        raise ConfigError("a task name may not contain '/'", path=where, key="name")
    if outcome not in OUTCOME_RULES:
        raise ConfigError(f"must be one of {', '.join(OUTCOME_RULES)}", path=where, key="outcome")
    fmt = _optional_text(spec, "format", where)
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", path=where, key="format")
    if "columns" not in spec:
        raise ConfigError("required: which column holds the prompt, e.g. {prompt: goal}", path=where, key="columns")
    mapping = ColumnMapping.parse(spec["columns"], where=where)
    if (outcome == "multiple_choice") != (mapping.choices is not None):
        raise ConfigError("multiple_choice tasks (and only they) map choices and answer", path=where,
                          key="columns.choices")
    row_filter = spec.get("where") or {}
    if not isinstance(row_filter, Mapping):
        raise ConfigError("must be a mapping of column to value", path=where, key="where")
    limit = _limit(spec, where)
    path = _data_file(spec["source"], base_dir, spec.get("path"), where)
    task = _task_from_file(path, fmt=fmt, name=name, mapping=mapping, where_filter=row_filter, outcome=outcome,
                           scorer=_optional_text(spec, "scorer", where) or DEFAULT_SCORER[outcome],
                           system_prompt=_optional_text(spec, "system_prompt", where), source=spec["source"])
    return [dataclasses.replace(task, items=task.items[:limit] if limit else task.items)]


def _data_file(source: str, base_dir: Path, inner: Any, where: str, fallback_suffix: str | None = None) -> Path:
    """Resolve a source to one data file. A folder source needs ``inner`` (a path inside it), or holds exactly one
    data file; with ``fallback_suffix`` set, a missing ``inner`` falls back to the folder's only data file with that
    suffix ("" for any)."""
    parsed = parse_source(source)
    text = source
    if parsed.kind == "file" and parsed.path is not None and not Path(parsed.path).expanduser().is_absolute():
        text = "file:" + str(base_dir / parsed.path)
    path = resolve(text, hf_repo_type="dataset").path
    if path.is_file():
        return path
    if inner is not None:
        if not isinstance(inner, str):
            raise ConfigError("must be a path inside the source folder", path=where, key="path")
        if (path / inner).is_file():
            return path / inner
    candidates = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES
                        and not p.name.startswith(".") and p.suffix.lower().endswith(fallback_suffix or ""))
    if (inner is None or fallback_suffix is not None) and len(candidates) == 1:
        return candidates[0]
    wanted = f"no file {inner!r} in it" if inner is not None else f"{len(candidates)} data files in it"
    raise DataError(f"source is a folder with {wanted}; name the file with path:", path=str(path))


def _task_from_file(path: Path, *, fmt: str | None, name: str, mapping: ColumnMapping, where_filter: Mapping,
                    outcome: OutcomeRule, scorer: str, system_prompt: str | None, source: str,
                    adapter: str | None = None) -> Task:
    fmt = fmt or guess_format(path)
    rows = read_rows(path, fmt)
    if adapter is not None:
        rows = adapt(adapter, rows, path=str(path))
        mapping = ColumnMapping.parse(columns_for(adapter, rows), where=f"adapter:{adapter}")
    numbers = {id(r): n for n, r in enumerate(rows, start=1)}
    kept = filter_rows(rows, where_filter, path=str(path))
    if not kept:
        raise DataError(f"no rows match where: {dict(where_filter)}", path=str(path))
    items = items_from_rows(kept, task=name, mapping=mapping, path=str(path),
                            record_numbers=[numbers[id(r)] for r in kept],
                            header_line=1 if fmt in ("csv", "tsv") else None)
    return Task(name=name, items=items, outcome=outcome, scorer=scorer, system_prompt=system_prompt, source=source)
