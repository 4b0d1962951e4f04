"""The run store's tables (:mod:`tais.store.run_store` describes what each holds): the schema 1 tables, created with a
new store, and the tables added after schema 1 shipped, created whenever a store is opened."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, task_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    task_sha256 TEXT NOT NULL, position INTEGER NOT NULL, item_id TEXT NOT NULL, item_sha256 TEXT NOT NULL,
    item_json TEXT NOT NULL, PRIMARY KEY (task_sha256, position));
CREATE TABLE IF NOT EXISTS arms (
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, spec_json TEXT NOT NULL, describe_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    fingerprint TEXT NOT NULL, item_id TEXT NOT NULL, replicate INTEGER NOT NULL, request_sha256 TEXT NOT NULL,
    completion_json TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (fingerprint, item_id, replicate, request_sha256));
CREATE TABLE IF NOT EXISTS timings (
    fingerprint TEXT NOT NULL, item_id TEXT NOT NULL, replicate INTEGER NOT NULL, request_sha256 TEXT NOT NULL,
    elapsed_s REAL NOT NULL, PRIMARY KEY (fingerprint, item_id, replicate, request_sha256));
CREATE TABLE IF NOT EXISTS arm_telemetry (
    session INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, telemetry_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    fingerprint TEXT NOT NULL, item_id TEXT NOT NULL, replicate INTEGER NOT NULL, request_sha256 TEXT NOT NULL,
    scorer TEXT NOT NULL, score_json TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (fingerprint, item_id, replicate, request_sha256, scorer));
CREATE TABLE IF NOT EXISTS scorings (
    fingerprint TEXT NOT NULL, completion_sha256 TEXT NOT NULL, scoring_json TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (fingerprint, completion_sha256));
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, config_sha256 TEXT NOT NULL, config_text TEXT NOT NULL,
    plan_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, thresholds_json TEXT NOT NULL,
    evidence_sha256 TEXT NOT NULL);
"""

ADDED_SCHEMA = """
CREATE TABLE IF NOT EXISTS merkle_trees (id INTEGER PRIMARY KEY AUTOINCREMENT, root TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_leaves (tree INTEGER NOT NULL, position INTEGER NOT NULL, leaf BLOB NOT NULL,
    PRIMARY KEY (tree, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plan_item_sets (id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT UNIQUE,
    items INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS plan_items (item_set INTEGER NOT NULL, position INTEGER NOT NULL, item_id TEXT NOT NULL,
    requests TEXT NOT NULL, PRIMARY KEY (item_set, position)) WITHOUT ROWID;
"""
"""Added after schema 1 shipped: created on open when missing, so a store written by an older tais still opens (and
gains the empty tables; ``plan_items`` holds the request hashes of run plans of version 3, one row per item, their
request sha256s joined by commas). The completions / scores primary keys (fingerprint, item_id, replicate, ...) are the
index the streaming analysis reads through; no further index is needed."""
