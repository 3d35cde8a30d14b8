"""Unit types: Bernoulli {0,1}, Spin {-1,+1}, Gaussian (real) and Categorical (one-hot),
and Joined layers of them side by side."""

from harmonium.units.base import Units, unit_type
from harmonium.units.bernoulli import Bernoulli
from harmonium.units.categorical import Categorical
from harmonium.units.gaussian import Gaussian
from harmonium.units.joined import Joined
from harmonium.units.spin import Spin

__all__ = ["Bernoulli", "Categorical", "Gaussian", "Joined", "Spin", "Units", "unit_type"]
