"""Partition functions and likelihoods: exact enumeration (and AIS, see ais.py)."""

from harmonium.partition.exact import log_likelihood_exact, log_partition_exact

__all__ = ["log_likelihood_exact", "log_partition_exact"]
