"""report.html in the real headless Chromium: loads with no console error and no network request, shows the verdict
first and all four plots, and runs none of the script / img-onerror / svg-onload payloads planted in the model text.
Control pages prove the probe sees a payload that does run, and the load sees a request and an error that happen.
Without Chromium the tests skip, except in CI (``CI=true``), where that is a failure. Set
TAIS_REPORT_SCREENSHOT=path.png to keep a
screenshot of the hostile report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from headless_chromium import CHROMIUM, Browser

from helpers.report_inputs import MARKER, PAYLOADS
from tais.report import write_reports


def chromium_or_skip() -> None:
    """Skip without Chromium, except in CI (``CI`` set to true), where a missing browser is a failure: a skipped
    browser test would let a report that runs a payload through unseen."""
    if Path(CHROMIUM).exists():
        return
    message = "needs Debian chromium (.ci/run installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {message}")
    pytest.skip(message)

PROBE = f"""JSON.stringify({{
  title: document.title,
  marker: typeof window.{MARKER},
  scripts: document.scripts.length,
  handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on')))
            .length,
  images: document.images.length,
  plots: [...document.querySelectorAll('svg[data-plot]')].map(s => s.dataset.plot),
  plotMarks: [...document.querySelectorAll('svg[data-plot]')].map(s => s.querySelectorAll('rect,circle,line').length),
  text: document.body.innerText,
  firstHeading: document.querySelector('main h2').textContent,
  verdictTop: document.getElementById('verdict').getBoundingClientRect().top,
  plotsTop: document.querySelector('svg[data-plot]').getBoundingClientRect().top,
}})"""


@pytest.fixture(scope="module")
def browser():
    chromium_or_skip()
    b = Browser()
    yield b
    b.close()


def probe(browser: Browser, url: str):
    import json

    load = browser.load(url)
    return load, json.loads(browser.evaluate(PROBE))


def test_the_probe_sees_a_payload_that_runs(browser, tmp_path):
    page = tmp_path / "unsafe.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body><main><h2>x</h2><div id='verdict'>"
                    f"</div>{PAYLOADS[0]}<svg data-plot='p'></svg></main></body></html>")  # fmt: skip
    _, seen = probe(browser, page.as_uri())
    assert seen["title"] == MARKER and seen["scripts"] == 1


def test_the_load_sees_a_request_and_an_error_that_happen(browser, tmp_path):
    """The positive control of the clean-load checks below: a page that fetches a resource, logs a console error and
    throws is seen doing each."""
    page = tmp_path / "noisy.html"
    image = "http://127.0.0.1:9/tais-control.png"
    page.write_text(f"<!DOCTYPE html><html><body><img src='{image}'><script>console.error('tais-control-error');"
                    f"throw new Error('tais-control-throw');</script></body></html>")
    load = browser.load(page.as_uri())
    assert page.as_uri() in load.requests and image in load.requests, load.requests
    assert "console: tais-control-error" in load.errors, load.errors
    assert any(e.startswith("exception:") and "tais-control-throw" in e for e in load.errors), load.errors


def test_hostile_report_loads_clean_and_executes_nothing(browser, hostile_result, tmp_path):
    paths = write_reports(hostile_result, tmp_path / "run")
    load, seen = probe(browser, paths["html"].as_uri())
    assert load.errors == []
    assert load.requests == [paths["html"].as_uri()], load.requests  # the page itself, seen, and nothing else
    assert seen["title"] == "tais screen: FAIL"
    assert (seen["marker"], seen["scripts"], seen["handlers"], seen["images"]) == ("undefined", 0, 0, 0)
    for payload in PAYLOADS[:4]:
        assert payload in seen["text"], payload  # shown as text, verbatim
    assert seen["plots"] == ["forest", "identity", "divergence-positions", "acceptance"]
    assert all(marks >= 3 for marks in seen["plotMarks"])
    assert seen["firstHeading"] == "Candidate contrasts"
    assert seen["verdictTop"] < seen["plotsTop"]
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("TAIS_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["TAIS_REPORT_SCREENSHOT"])
