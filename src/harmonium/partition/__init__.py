"""Partition functions and likelihoods: exact enumeration, AIS and reverse AIS."""

from harmonium.partition.ais import AISResult, ais, reverse_ais
from harmonium.partition.exact import log_likelihood_exact, log_partition_exact
from harmonium.partition.likelihood import LogLikelihood, log_likelihood
from harmonium.partition.pseudo import pseudo_log_likelihood

__all__ = [
    "AISResult",
    "LogLikelihood",
    "ais",
    "log_likelihood",
    "log_likelihood_exact",
    "log_partition_exact",
    "pseudo_log_likelihood",
    "reverse_ais",
]
