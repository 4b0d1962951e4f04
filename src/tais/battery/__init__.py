"""Tasks and items: loaders for files, the hub and package-index artifacts; the built-in benchmark registry; source
pinning and the artifact cache.

Public surface (used by the pipeline):

- :func:`load_tasks` (one config ``battery:`` entry -> tasks with ``sha256`` set),
- :func:`messages_for` (the chat turns of an item), :func:`raw_prompt_for`,
- :data:`BENCHMARKS` / :func:`get_benchmark` (the registry), :func:`smoke_tasks`,
- :func:`task_sha256` (the content pin).
"""

from tais.battery.load import load_tasks
from tais.battery.pinning import task_sha256
from tais.battery.registry import BENCHMARKS, Benchmark, get_benchmark
from tais.battery.render import messages_for, raw_prompt_for
from tais.battery.smoke import smoke_tasks

__all__ = ["BENCHMARKS", "Benchmark", "get_benchmark", "load_tasks", "messages_for", "raw_prompt_for",
           "smoke_tasks", "task_sha256"]
