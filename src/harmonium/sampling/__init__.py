"""Samplers beyond plain block Gibbs (:meth:`harmonium.RBM.gibbs`): parallel tempering."""

from harmonium.sampling.tempering import ParallelTempering, default_ladder

__all__ = ["ParallelTempering", "default_ladder"]
