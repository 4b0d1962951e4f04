"""SQLite run store (WAL, one writer): arms, items, completions, scores and the run manifest; resume and export."""
