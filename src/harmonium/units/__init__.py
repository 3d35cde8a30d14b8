"""Unit types: Bernoulli {0,1}, Spin {-1,+1}, Gaussian (real), Categorical (one-hot),
Potts (one-hot, zero-sum gauge), ReLU (h >= 0), DReLU (double ReLU) and its
reparametrisations PReLU (leaky double ReLU, |eta| < 1) and XReLU (unbounded asymmetry),
and Joined layers of them side by side."""

from harmonium.units.base import Units, unit_type
from harmonium.units.bernoulli import Bernoulli
from harmonium.units.categorical import Categorical
from harmonium.units.drelu import DReLU
from harmonium.units.gaussian import Gaussian
from harmonium.units.joined import Joined
from harmonium.units.potts import Potts
from harmonium.units.prelu import PReLU
from harmonium.units.relu import ReLU
from harmonium.units.spin import Spin
from harmonium.units.xrelu import XReLU

__all__ = ["Bernoulli", "Categorical", "DReLU", "Gaussian", "Joined", "PReLU", "Potts", "ReLU",
           "Spin", "Units", "XReLU", "unit_type"]
