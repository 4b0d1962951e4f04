"""vLLM backends: ``vllm`` (in-process ``vllm.LLM``, :mod:`.offline`) and ``vllm-server`` (``vllm serve`` started by
tais and driven over HTTP, :mod:`.server`); :mod:`.config` maps an arm onto vLLM's engine arguments and
:mod:`.launch` builds the server's command line. vLLM itself is imported only inside these modules' functions."""
