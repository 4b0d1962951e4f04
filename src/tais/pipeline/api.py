"""The Python API for pytest users: run a screen from a test and fail the test with the screen's reasons.

::

    import tais

    def test_speculative_arm_is_equivalent(tmp_path):
        result = tais.run_screen("screen.yaml", out_dir=tmp_path / "run")
        tais.assert_screen_passes(result)

``run_screen(config)`` accepts a path to a YAML config, or the config as a mapping (for configs built in code; then
``base_dir`` is where relative paths in it resolve, the current directory by default). It runs or resumes the screen
exactly as ``tais run`` does and returns the :class:`tais.screen.result.ScreenResult`.

``assert_screen_passes(result)`` does nothing on PASS and raises ``AssertionError`` otherwise, with one line per
cell that did not pass: ``spec-typical vs reference / smoke-harmful: FAIL: 3 leak divergences; |h| = 0.21 >= 0.1``.
With ``allow_inconclusive=True`` an INCONCLUSIVE screen passes too (a small battery that cannot yet decide).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tais.pipeline.config import ScreenConfig, load_config, parse_config
from tais.pipeline.run import ProgressCallback, run_config
from tais.screen.result import ScreenResult
from tais.types import Role, Verdict


def config_from_mapping(data: Mapping[str, Any], *, base_dir: Path | None = None) -> ScreenConfig:
    """Validate a config given as a mapping (errors name ``<config>`` and the key path)."""
    text = yaml.safe_dump(dict(data), sort_keys=False)
    path = (base_dir or Path.cwd()).resolve() / "<config>"
    model = parse_config(text, Path("<config>"))
    return ScreenConfig(model=model, path=path, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def run_screen(config: str | Path | Mapping[str, Any] | ScreenConfig, *, out_dir: Path | str | None = None,
               base_dir: Path | None = None, progress: ProgressCallback | None = None) -> ScreenResult:
    """Run (or resume) a screen and return its result; see the module docstring."""
    if isinstance(config, ScreenConfig):
        loaded = config
    elif isinstance(config, Mapping):
        loaded = config_from_mapping(config, base_dir=base_dir)
    else:
        loaded = load_config(config)
    outcome = run_config(loaded, out_dir=None if out_dir is None else Path(out_dir), progress=progress)
    return outcome.result


def failure_lines(result: ScreenResult, *, allow_inconclusive: bool = False) -> list[str]:
    """One line per candidate cell that does not pass (empty when the screen passes)."""
    accepted = {Verdict.PASS, Verdict.INCONCLUSIVE} if allow_inconclusive else {Verdict.PASS}
    lines = []
    for cell in result.cells:
        if cell.role is not Role.CANDIDATE or cell.verdict in accepted:
            continue
        reasons = "; ".join(cell.reasons) or "no reason given"
        lines.append(f"{cell.contrast} / {cell.task}: {cell.verdict.value}: {reasons}")
    return lines


def assert_screen_passes(result: ScreenResult, *, allow_inconclusive: bool = False) -> None:
    """Raise ``AssertionError`` naming every cell that did not pass, unless the screen passed."""
    if result.verdict == Verdict.PASS or (allow_inconclusive and result.verdict == Verdict.INCONCLUSIVE):
        return
    lines = failure_lines(result, allow_inconclusive=allow_inconclusive)
    raise AssertionError(f"screen verdict {result.verdict.value}:\n  " + "\n  ".join(lines or ["(no cell reasons)"]))
