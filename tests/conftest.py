import os

import torch

# Two pytest-xdist workers on two cores: one thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
# The CLI, called in-process by the tests, keeps this process's thread count (its own
# choice, harmonium.threads.choose_threads, would reset it); subprocesses inherit it.
os.environ.setdefault("HARMONIUM_THREADS", str(torch.get_num_threads()))
