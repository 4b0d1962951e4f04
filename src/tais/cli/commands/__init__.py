"""One module per ``tais`` sub-command. Each module defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed namespace, returning the exit code)."""
