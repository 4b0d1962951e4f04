"""Row adapters for the multiple-choice benchmarks of the paper's battery: each turns one record of a source, in
that source's own schema, into the flat fields ``id``, ``prompt``, ``choices`` (a list), ``answer`` (0-based index)
plus metadata, which :func:`tais.battery.mapping.items_from_rows` then reads with :data:`FLAT_COLUMNS`.

==================  =========================================================  ====================================
adapter             source fields                                              prompt / choices / answer
==================  =========================================================  ====================================
``bbq``             example_id, category, context, question, ans0..ans2,       context, a blank line, question /
                    label, context_condition, question_polarity                ans0..ans2 / label
``truthfulqa-mc1``  question, mc1_targets {choices, labels}                    question / mc1 choices in a fixed
                                                                               shuffle (the source lists the true
                                                                               answer first) / where label 1 lands
``mmlu``            question, subject, choices, answer (0-3)                   question / choices / answer
``arc``             id, question (text), choices {text, label}, answerKey      question / choices.text / where
                    -- or AI2's own: id, question {stem, choices: [{text,      answerKey is among the labels
                    label}]}, answerKey
==================  =========================================================  ====================================

The TruthfulQA shuffle: choices are ordered by sha256 of ``"<question>\\0<choice>"``, so the order is fixed by the
text alone (no seed, no library version) and the true answer's letter varies across questions.

Worked example::

    >>> from tais.battery.tables import Row
    >>> adapt("arc", [Row(2, {"id": "q1", "question": "Which is a metal?", "answerKey": "2",
    ...                       "choices": {"text": ["wood", "iron"], "label": ["1", "2"]}})], path="arc.jsonl")[0].fields
    {'id': 'q1', 'prompt': 'Which is a metal?', 'choices': ['wood', 'iron'], 'answer': 1}
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from tais.battery.tables import Row
from tais.errors import DataError

#: the column mapping of every adapted row (``meta`` names vary by adapter; see :data:`META`)
FLAT_COLUMNS = {"prompt": "prompt", "id": "id", "choices": "choices", "answer": "answer"}
META = {"bbq": ["category", "context_condition", "question_polarity"], "truthfulqa-mc1": [], "mmlu": ["subject"],
        "arc": []}


def _need(row: Row, key: str, path: str) -> Any:
    if key not in row.fields or row.fields[key] is None:
        raise DataError(f"missing field {key!r}", path=path, line=row.line, column=key)
    return row.fields[key]


def _bbq(row: Row, path: str) -> dict[str, Any]:
    category = str(_need(row, "category", path))
    return {"id": f"{category}-{_need(row, 'example_id', path)}",
            "prompt": f"{_need(row, 'context', path)}\n\n{_need(row, 'question', path)}",
            "choices": [_need(row, f"ans{i}", path) for i in range(3)], "answer": int(_need(row, "label", path)),
            "category": category, "context_condition": row.fields.get("context_condition", ""),
            "question_polarity": row.fields.get("question_polarity", "")}


def _truthfulqa(row: Row, path: str) -> dict[str, Any]:
    question = str(_need(row, "question", path))
    targets = _need(row, "mc1_targets", path)
    if not isinstance(targets, dict) or "choices" not in targets or "labels" not in targets:
        raise DataError("mc1_targets must hold choices and labels", path=path, line=row.line, column="mc1_targets")
    choices, labels = list(targets["choices"]), [int(x) for x in targets["labels"]]
    if len(choices) != len(labels) or labels.count(1) != 1:
        raise DataError("mc1_targets needs as many labels as choices and exactly one label 1", path=path,
                        line=row.line, column="mc1_targets")
    order = sorted(range(len(choices)),
                   key=lambda i: hashlib.sha256(f"{question}\0{choices[i]}".encode("utf-8")).hexdigest())
    return {"id": None, "prompt": question, "choices": [choices[i] for i in order],
            "answer": order.index(labels.index(1))}


def _mmlu(row: Row, path: str) -> dict[str, Any]:
    return {"id": None, "prompt": _need(row, "question", path), "choices": list(_need(row, "choices", path)),
            "answer": int(_need(row, "answer", path)), "subject": row.fields.get("subject", "")}


def _arc(row: Row, path: str) -> dict[str, Any]:
    question = _need(row, "question", path)
    if isinstance(question, dict):  # AI2's own jsonl
        stem = question.get("stem")
        texts = [c.get("text") for c in question.get("choices", [])]
        labels = [str(c.get("label")) for c in question.get("choices", [])]
    else:
        stem = question
        choices = _need(row, "choices", path)
        texts, labels = list(choices.get("text", [])), [str(x) for x in choices.get("label", [])]
    key = str(_need(row, "answerKey", path))
    if key not in labels:
        raise DataError(f"answerKey {key!r} is not one of the labels {labels}", path=path, line=row.line,
                        column="answerKey")
    return {"id": _need(row, "id", path), "prompt": stem, "choices": texts, "answer": labels.index(key)}


ADAPTERS: dict[str, Callable[[Row, str], dict[str, Any]]] = {
    "bbq": _bbq, "truthfulqa-mc1": _truthfulqa, "mmlu": _mmlu, "arc": _arc}


def adapt(name: str, rows: Sequence[Row], *, path: str) -> list[Row]:
    """Rows in the flat form; an ``id`` of None is left out (the item key is then the record number)."""
    fn = ADAPTERS[name]
    out = []
    for row in rows:
        fields = fn(row, path)
        if fields.get("id") is None:
            fields.pop("id", None)
        out.append(Row(row.line, fields))
    return out


def columns_for(name: str, rows: Sequence[Row]) -> dict[str, Any]:
    """The column mapping of adapted rows: the flat columns (``id`` only when the rows carry one) and the meta."""
    cols: dict[str, Any] = {k: v for k, v in FLAT_COLUMNS.items() if k != "id" or (rows and "id" in rows[0].fields)}
    return {**cols, "meta": META[name]}
