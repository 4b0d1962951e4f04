"""Helpers shared by the test packages: ``from helpers.mock_configs import mock_config``.

``tests/`` is on the import path through pytest's ``pythonpath`` setting (pyproject.toml), so no test edits
``sys.path``. Modules: :mod:`helpers.mock_configs` (screen configs for the mock engine), :mod:`helpers.screen_scenario`
(a synthetic screen with known tables), :mod:`helpers.report_inputs` (that screen analysed, plain and hostile),
:mod:`helpers.legacy_run` (a run directory as tais wrote it before the RunPlan)."""
