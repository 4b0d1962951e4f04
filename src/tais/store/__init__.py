"""SQLite run store (WAL, one writer): arms, items, completions, scores and the run manifest; resume and export."""

from tais.store.canonical import canonical_json, sha256_json, sha256_text
from tais.store.run_store import (
    STORE_FILENAME,
    CompletionKey,
    RunRecord,
    RunStore,
    StoredCompletion,
    completion_sha256,
    task_content_sha256,
)

__all__ = [
    "STORE_FILENAME",
    "CompletionKey",
    "RunRecord",
    "RunStore",
    "StoredCompletion",
    "canonical_json",
    "completion_sha256",
    "sha256_json",
    "sha256_text",
    "task_content_sha256",
]
