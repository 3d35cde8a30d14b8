"""The ``harmonium`` command line: thin shells over the library."""

import os

# Idle OpenMP threads sleep instead of spinning: with another process busy on a core,
# spinning threads made commands several times slower (docs/performance.md, "Threads on
# shared machines"). OpenMP reads this once, when torch loads, so it is set here, before
# the command modules import torch; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
