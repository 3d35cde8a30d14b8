"""Unit types: Bernoulli {0,1}, Spin {-1,+1}, Gaussian (real) and Categorical (one-hot)."""

from harmonium.units.base import Units
from harmonium.units.bernoulli import Bernoulli
from harmonium.units.categorical import Categorical
from harmonium.units.gaussian import Gaussian
from harmonium.units.spin import Spin

__all__ = ["Bernoulli", "Categorical", "Gaussian", "Spin", "Units"]
