"""Command line: argument parsing, printing and exit codes (the only layer that prints)."""
