"""Input checks shared by every model (``harmonium._numerics``)."""

import math

import numpy as np
import pytest
import torch

from harmonium._numerics import as_batch


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [(0, 0), (3, 5), (-1, -1)])
def test_as_batch_rejects_any_non_finite_entry(dtype, bad, where):
    x = torch.rand(7, 6, dtype=dtype)
    x[where] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_batch(x, "x")


def test_as_batch_accepts_finite_extremes_and_converts():
    big = np.finfo(np.float32).max
    x = as_batch([[big, -big], [0, 1]], "x", dtype=torch.float32)
    assert x.dtype == torch.float32 and x.shape == (2, 2)
    assert as_batch(np.array([[True, False]]), "x").dtype == torch.float32
