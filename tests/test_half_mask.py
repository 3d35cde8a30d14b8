"""``harmonium.datasets.half_mask``: which pixels of an image count as observed."""

import pytest
import torch

from harmonium.datasets import half_mask


@pytest.mark.parametrize("height, width", [(4, 6), (5, 3), (1, 2)])
def test_each_half_against_explicit_coordinates(height, width):
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    expected = {
        "bottom": rows < height - height // 2,
        "top": rows >= height // 2,
        "left": cols >= width // 2,
        "right": cols < width - width // 2,
    }
    for hide, observed in expected.items():
        mask = half_mask((height, width), hide)
        assert mask.dtype == torch.bool and mask.shape == (height * width,)
        assert torch.equal(mask, observed.flatten())
    # opposite halves of an even side partition the image
    if height % 2 == 0:
        assert torch.equal(half_mask((height, width), "top"),
                           ~half_mask((height, width), "bottom"))


@pytest.mark.parametrize(
    "shape, hide, error",
    [((4, 4), "middle", ValueError), ((0, 4), "top", ValueError),
     ((4, 2.0), "top", TypeError)],
)
def test_bad_input(shape, hide, error):
    with pytest.raises(error):
        half_mask(shape, hide)
