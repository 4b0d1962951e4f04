"""Pair completions by item, explain each first divergence, compute per-cell statistics and apply the verdict policy."""
