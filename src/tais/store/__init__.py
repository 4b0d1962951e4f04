"""SQLite run store (WAL, one writer): arms, items, completions, scores and the RunPlan of each run; resume, export."""

from tais.store.canonical import canonical_json, sha256_json, sha256_text
from tais.store.integrity import IntegrityCheck
from tais.store.records import RunRecord, StoredCompletion, completion_sha256, task_content_sha256
from tais.store.run_plan import PLAN_VERSION, PlannedArm, PlannedItem, PlannedItems, PlannedTask, RunPlan
from tais.store.run_store import STORE_FILENAME, RunStore
from tais.types import CompletionKey

__all__ = [
    "PLAN_VERSION",
    "STORE_FILENAME",
    "CompletionKey",
    "IntegrityCheck",
    "PlannedArm",
    "PlannedItem",
    "PlannedItems",
    "PlannedTask",
    "RunPlan",
    "RunRecord",
    "RunStore",
    "StoredCompletion",
    "canonical_json",
    "completion_sha256",
    "sha256_json",
    "sha256_text",
    "task_content_sha256",
]
