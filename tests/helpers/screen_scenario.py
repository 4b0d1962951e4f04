"""A synthetic screen with known tables, built from Completion / Score objects (no engine runs: the figures of every
cell are fixed by construction, so the tests can check each one against a hand count).

Tasks: ``harm`` (refusal, 400 items; the reference refuses items 0-299) and ``mc`` (multiple choice, 60 items; the
reference answers items 0-44 correctly). The reference returns top-k logprobs on ``harm`` and none on ``mc``.

Every reference completion has five tokens, ids 10..14, text `` w10 w11 w12 w13 w14``. At each step the reference's
own token has logprob -0.05 and its top-3 is (own -0.05, id 90 ``" near"`` -0.10, id 91 ``" far"`` -3.0). A candidate
that diverges at position p takes id 90 (gap 0.05 < tau: near-tie), 91 (gap 2.95: leak) or 99 (absent: leak).

Arms and what they change (expected tables as (a, b, c, d)):

- ``strict`` (candidate): harm items 0, 1, 2 near-tie at token 3, outcomes kept -> (300, 0, 0, 100);
  mc item 0 (1 -> 0) and item 50 (0 -> 1) diverge without logprobs (unexplained); items 58, 59 score undecided
  -> (44, 1, 1, 12), undecided 2.
- ``lossy`` (candidate): harm items 0-9 leak via id 91 at token 2 (1 -> 0); items 300, 301 leak via absent id 99 at
  token 0 (0 -> 1) -> (290, 10, 2, 98); mc unchanged -> (45, 0, 0, 15).
- ``aa`` (null): harm items 10, 11 near-tie at token 4 (1 -> 0) -> (298, 2, 0, 100); mc unchanged.
- ``shift`` (candidate, not in the default arms): harm items 0-8 near-tie at token 3 (1 -> 0) -> (291, 9, 0, 100), a
  one-way shift of -2.25pp that McNemar detects; mc unchanged.

Speed: 5 output tokens per completion; generation wall time ref 20 s, strict 10 s, lossy 8 s, aa 20 s. ``strict``
completions carry spec counters (harm 8 drafted / 6 accepted each, mc 8 / 4); ``lossy`` has only arm telemetry
(1000 drafted, 900 accepted).
"""

from __future__ import annotations

from tais.screen.result import ArmInfo
from tais.types import Battery, Completion, CompletionKey, Item, Score, SpecTelemetry, StepLogprobs, Task, TopLogprob

NEAR, FAR, ABSENT = 90, 91, 99
TOKEN_TEXT = {NEAR: " near", FAR: " far", ABSENT: " gone"}
REF_IDS = (10, 11, 12, 13, 14)


def text_of(ids) -> str:
    return "".join(TOKEN_TEXT.get(i, f" w{i}") for i in ids)


def steps_of(ids) -> tuple[StepLogprobs, ...]:
    return tuple(
        StepLogprobs(
            token=text_of([i]),
            logprob=-0.05,
            token_id=i,
            top=(TopLogprob(text_of([i]), -0.05, i), TopLogprob(" near", -0.10, NEAR), TopLogprob(" far", -3.0, FAR)),
        )
        for i in ids
    )


def key(item_id: str, replicate: int = 0) -> CompletionKey:
    """The completion key of an item in this scenario (a made-up request sha256, the same for every arm)."""
    return CompletionKey(item_id, replicate, f"request-of-{item_id}#{replicate}")


def battery() -> Battery:
    harm = Task("harm", tuple(Item(f"harm/{i}", f"harmful prompt {i}") for i in range(400)), "refusal", "refusal-rules")
    mc = Task("mc", tuple(Item(f"mc/{i}", f"question {i}", ("x", "y"), "A") for i in range(60)), "multiple_choice",
              "multiple-choice")  # fmt: skip
    return Battery((harm, mc))


def reference_outcome(item_id: str) -> int:
    task, i = item_id.split("/")
    return int(int(i) < (300 if task == "harm" else 45))


# arm -> item id -> (divergence position, replacement token id, candidate outcome or None for undecided)
CHANGES = {
    "strict": {**{f"harm/{i}": (3, NEAR, 1) for i in range(3)},
               "mc/0": (1, 77, 0), "mc/50": (1, 78, 1), "mc/58": (None, None, None), "mc/59": (None, None, None)},
    "lossy": {**{f"harm/{i}": (2, FAR, 0) for i in range(10)}, "harm/300": (0, ABSENT, 1), "harm/301": (0, ABSENT, 1)},
    "aa": {"harm/10": (4, NEAR, 0), "harm/11": (4, NEAR, 0)},
    "shift": {f"harm/{i}": (3, NEAR, 0) for i in range(9)},
}  # fmt: skip
WALL = {"ref": 20.0, "strict": 10.0, "lossy": 8.0, "aa": 20.0, "shift": 10.0}
ROLES = {"ref": "reference", "strict": "candidate", "lossy": "candidate", "aa": "null", "shift": "candidate"}


def arms(names=("ref", "strict", "lossy", "aa")) -> list[ArmInfo]:
    telemetry = {"lossy": {"spec_drafted": 1000, "spec_accepted": 900}}
    return [ArmInfo(n, ROLES[n], f"fp-{n}", {"backend": "mock", "name": n}, WALL[n], telemetry.get(n, {}))
            for n in names]


def completion(arm: str, item_id: str, ids, with_logprobs: bool) -> Completion:
    spec = None
    if arm == "strict":
        spec = SpecTelemetry(drafted=8, accepted=6 if item_id.startswith("harm") else 4, verify_steps=2)
    return Completion(
        item_id=item_id,
        text=text_of(ids),
        token_ids=tuple(ids),
        logprobs=steps_of(ids) if with_logprobs else None,
        output_tokens=len(ids),
        wall_s=0.1,
        spec=spec,
    )


def build(names=("ref", "strict", "lossy", "aa"), texts: dict[str, str] | None = None):
    """``(battery, arms, completions, scores)`` for ``analyse``; ``texts`` overrides the text of a candidate's
    diverging completion (item id -> text), e.g. to plant markup in it."""
    bat = battery()
    completions: dict[str, dict] = {}
    scores: dict[str, dict] = {}
    for arm in names:
        completions[arm], scores[arm] = {}, {}
        for task in bat.tasks:
            for item in task.items:
                k = key(item.id)
                ids = list(REF_IDS)
                outcome = reference_outcome(item.id)
                change = CHANGES.get(arm, {}).get(item.id)
                if change is not None:
                    position, token, outcome = change
                    if position is not None:
                        ids[position] = token
                c = completion(arm, item.id, ids, with_logprobs=task.name == "harm")
                if texts and arm != "ref" and item.id in texts and change is not None:
                    c = Completion(**{**c.__dict__, "text": texts[item.id], "logprobs": c.logprobs})
                completions[arm][k] = c
                label = "unparseable" if outcome is None else ("wanted" if outcome else "unwanted")
                scores[arm][k] = Score(item.id, outcome, label, "synthetic@1")
    return bat, arms(names), completions, scores
