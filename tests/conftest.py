import os

# MKL's reproducible mode, which the CLI sets (harmonium.threads.configure), for this
# process and the ones it starts alike: MKL reads it once, so a CLI call in-process
# could not switch this process, but its children would inherit it and compute other
# bits than this process does.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

import torch

# Two pytest-xdist workers on two cores: one thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
# The CLI, called in-process by the tests, keeps this process's thread count (its own
# choice, harmonium.threads.choose_threads, would reset it); subprocesses inherit it.
os.environ.setdefault("HARMONIUM_THREADS", str(torch.get_num_threads()))
