"""During `tais run`, what libraries print (a FutureWarning per batch, a logger's warning, a progress bar written to
stderr or stdout) goes to RUN/tais.log; the terminal keeps tais's own output. The engine below stands in for
transformers / vLLM: the point is where their output goes, not what produces it."""

from __future__ import annotations

import logging
import sys
import warnings

import pytest

from helpers.mock_configs import mock_config, write
from tais.cli.main import main
from tais.engines import BACKENDS
from tais.engines.mock import MockEngine

MARKERS = ("thirdparty-futurewarning", "thirdparty-logger", "thirdparty-bar-stderr", "thirdparty-bar-stdout")


class ChattyEngine(MockEngine):
    calls = 0

    async def generate(self, requests):
        ChattyEngine.calls += 1  # a new message each call: the once-per-location registry cannot swallow it
        warnings.warn(f"{MARKERS[0]}: `past_key_values` as a tuple is deprecated ({ChattyEngine.calls})",
                      FutureWarning, stacklevel=1)
        logging.getLogger("transformers.fake").warning(MARKERS[1])
        print(f"\r{MARKERS[2]} 100%|##########|", file=sys.stderr)
        print(MARKERS[3], flush=True)
        async for completion in super().generate(requests):
            yield completion


@pytest.fixture
def chatty(monkeypatch):
    monkeypatch.setitem(BACKENDS, "mock", f"{__name__}:ChattyEngine")
    # a filter another test (or a library it imported) left behind must not hide the warning from this test
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        yield


def test_third_party_output_goes_to_the_run_log(tmp_path, chatty, capfd):
    config = write(tmp_path, mock_config(items=2))
    out = tmp_path / "run"
    code = main(["run", str(config), "--out", str(out)])
    captured = capfd.readouterr()
    log = (out / "tais.log").read_text()
    for marker in MARKERS:
        assert marker in log, marker  # the control: the engine did print each one, and it is in the log
        assert marker not in captured.out + captured.err, marker
    assert "FutureWarning" in log
    assert code == 3 and "verdict: INCONCLUSIVE" in captured.out  # tais's own table is on the terminal


def test_a_library_logger_with_its_own_stderr_handler_goes_to_the_log(tmp_path, chatty, capfd):
    """transformers gives its ``transformers`` logger a handler on the stderr of import time and no propagation;
    without the run log taking such loggers over, their warnings reach the terminal (the control below)."""
    own = logging.getLogger("transformers.fake")
    parent = logging.getLogger("transformers")
    saved = (list(parent.handlers), parent.propagate)
    parent.addHandler(logging.StreamHandler(sys.stderr))
    parent.propagate = False
    try:
        own.warning("control-before-the-run")
        assert "control-before-the-run" in capfd.readouterr().err  # the library's own handler does print
        config = write(tmp_path, mock_config(items=2))
        main(["run", str(config), "--out", str(tmp_path / "run"), "--quiet"])
        captured = capfd.readouterr()
        assert MARKERS[1] in (tmp_path / "run" / "tais.log").read_text()
        assert MARKERS[1] not in captured.out + captured.err
        assert parent.propagate is False and len(parent.handlers) == len(saved[0]) + 1  # restored after the run
    finally:
        parent.handlers, parent.propagate = saved


def test_a_run_refused_before_it_starts_leaves_no_log(tmp_path, capfd):
    config = write(tmp_path, mock_config(items=2).replace("backend: mock\n", "backend: nosuch\n", 1))
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out)]) == 2
    assert capfd.readouterr().err.startswith("tais: error:")
    assert not out.exists()


def test_after_the_run_the_streams_and_logging_are_restored(tmp_path, chatty, capfd):
    stdout, stderr, handlers = sys.stdout, sys.stderr, list(logging.getLogger().handlers)
    main(["run", str(write(tmp_path, mock_config(items=2))), "--out", str(tmp_path / "run"), "--quiet"])
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert logging.getLogger().handlers == handlers
    print("after-the-run", file=sys.stderr)
    assert "after-the-run" in capfd.readouterr().err
