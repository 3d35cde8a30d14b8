"""How many CPU threads torch uses, chosen for machines shared with other processes.

torch's default is one thread per core, and its OpenMP threads spin while they wait.
When another process keeps one of those cores busy, the spinning threads steal its
time and every parallel region waits for the thread that shares it: a command can run
many times slower than with one thread (``docs/performance.md``, "Threads on shared
machines", has the measurements). This module picks the thread count from the cores
this process may use and how busy they are, lets the user
override it (``HARMONIUM_THREADS`` or the CLI's ``--threads``), and asks MKL for its
reproducible mode, so that a seeded run gives the same numbers whatever the thread
count.

Importing :mod:`harmonium` changes nothing: a library does not reconfigure its host
program's thread pool behind its back. The ``harmonium`` command calls
:func:`configure` once, before any work; a library user may call it too, or
:func:`set_threads`.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = ["ENV_VAR", "REPRODUCIBLE_MKL", "available_cores", "busy_cores", "choose_threads",
           "configure", "elementwise", "parse_threads", "set_threads"]

log = logging.getLogger(__name__)

#: environment variable that overrides the chosen thread count (an integer >= 1 or "auto")
ENV_VAR = "HARMONIUM_THREADS"
#: MKL's conditional numerical reproducibility: GEMM results independent of the thread
#: count (read by MKL at its first call, so it must be set before any product)
REPRODUCIBLE_MKL = "AUTO,STRICT"
# torch runs an elementwise operation on one thread below this many elements
# (at::internal::GRAIN_SIZE); blocks of _BLOCK, a multiple of every SIMD width, stay below
_SPLIT_SIZE = 32768
_BLOCK = 16384
# a core counts as free when less than this fraction of it is used by others
_BUSY_MARGIN = 0.5


def elementwise(fn, x):
    """``fn(x)`` for an elementwise ``fn``, with the same bits whatever the thread count.

    Above 32,768 elements torch splits an elementwise operation across its threads. The
    split points move with the thread count and can fall inside a SIMD vector, where
    torch's scalar code takes over; for ``exp``, ``sigmoid`` or ``tanh`` the scalar and
    vector codes round differently, so the last bit of a few elements depends on the
    thread count. Computed in blocks of 16,384 elements (each below the size torch
    splits, and a whole number of vectors), the result is the one a single thread
    gives on the whole tensor, with any thread count. Used for the conditional means
    and probabilities that feed sampling and gradients.

    Parameters
    ----------
    fn : callable
        Elementwise, e.g. ``torch.sigmoid``.
    x : torch.Tensor, any shape

    Returns
    -------
    torch.Tensor, the shape of ``x``
        ``fn(x)``; on one thread, on a GPU or for a non-contiguous ``x``, exactly ``fn(x)``.
    """
    import torch

    if (x.numel() < _SPLIT_SIZE or x.device.type != "cpu" or not x.is_contiguous()
            or torch.get_num_threads() == 1):
        return fn(x)
    return torch.cat([fn(block) for block in x.view(-1).split(_BLOCK)]).view(x.shape)


def parse_threads(text: str, source: str = ENV_VAR) -> int | None:
    """Read a thread setting: an integer >= 1, or ``auto`` (returned as None).

    Parameters
    ----------
    text : str
        The value, e.g. ``"1"``, ``"4"``, ``"auto"``.
    source : str
        Where it came from, for the error message (``HARMONIUM_THREADS``, ``--threads``).

    Returns
    -------
    int or None
        The count, or None for ``auto``.

    Raises
    ------
    ValueError
        Anything else (``0``, ``-1``, ``two``, ``1.5``).
    """
    value = text.strip().lower()
    if value == "auto":
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"{source} must be an integer >= 1 or 'auto', got {text!r}")


def available_cores() -> float:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota.

    Returns
    -------
    float
        E.g. 2.0 on a 2-core machine, 1.5 in a container limited to 150% of a core.
    """
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = float(os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return max(cores, 1.0)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where it is missing."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(interval: float = 0.1) -> float:
    """How many cores other processes keep busy, sampled over ``interval`` seconds.

    Read from ``/proc/stat`` while this process sleeps, so its own work is not counted.
    Where ``/proc/stat`` is missing, the one-minute load average stands in (which also
    counts waiting processes, and lags).

    Parameters
    ----------
    interval : float
        Seconds to sample (0.1 costs 0.1 s once per command).

    Returns
    -------
    float
        Busy cores in [0, number of CPUs].
    """
    first = _cpu_times()
    if first is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(interval)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return 0.0
    return (second[0] - first[0]) / total * (os.cpu_count() or 1)


def choose_threads(interval: float = 0.1) -> int:
    """The thread count for this machine now: the cores that nobody else is using.

    ``floor(available_cores() - busy_cores() + 0.5)``, at least 1: a neighbour that
    keeps a core more than half busy takes that core out of the count. On a busy 2-core
    machine (``benchmarks/results/shared_machine*.md``) this ran at 0.76x to 1.9x the
    rate of a fixed single thread (noise), where every core with passive waiting ran at
    0.49x to 6.6x and every core with spinning threads at 0.05x to 0.47x.

    Parameters
    ----------
    interval : float
        Seconds over which to sample how busy the cores are.

    Returns
    -------
    int
        >= 1.
    """
    free = available_cores() - busy_cores(interval)
    return max(1, int(free + _BUSY_MARGIN))


def set_threads(n: int) -> int:
    """Use ``n`` threads for torch's CPU operations (intra-op; also MKL's and OpenMP's).

    Parameters
    ----------
    n : int
        >= 1.

    Returns
    -------
    int
        The previous count, to restore with ``set_threads(previous)``.

    Raises
    ------
    TypeError, ValueError
        When ``n`` is not an integer >= 1.
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the thread count must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"the thread count must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def configure(threads: int | str | None = None, *, reproducible: bool = True) -> int:
    """Choose and set the thread count once, before work (what the CLI does).

    Precedence: ``threads`` (the CLI's ``--threads``), then ``HARMONIUM_THREADS``; with
    neither, ``OMP_NUM_THREADS`` if the user set it (torch has read it already; left
    alone), else :func:`choose_threads`. ``"auto"`` asks for :func:`choose_threads`.

    Parameters
    ----------
    threads : int or "auto", optional
        An explicit count (>= 1) or ``"auto"``; None to decide as above.
    reproducible : bool
        Set ``MKL_CBWR=AUTO,STRICT`` unless the user set ``MKL_CBWR``, so that MKL's
        matrix products give the same bits with any thread count. It only takes effect
        if no MKL routine has run yet in this process.

    Returns
    -------
    int
        The thread count in use.

    Raises
    ------
    ValueError
        A bad ``HARMONIUM_THREADS`` or ``threads`` value.
    """
    if reproducible:
        os.environ.setdefault("MKL_CBWR", REPRODUCIBLE_MKL)
    import torch

    setting = threads if threads is not None else os.environ.get(ENV_VAR, "").strip() or None
    if setting is None and os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    if isinstance(setting, str):
        setting = parse_threads(setting, ENV_VAR if threads is None else "threads")
    if setting is None:
        setting = choose_threads()
        log.info("using %d thread(s) of %.1f available core(s)", setting, available_cores())
    set_threads(setting)
    return setting
