"""The one box drawer: a type has one colour on every photo, whatever other types are drawn beside it."""
from __future__ import annotations

import torch

from distortx.drawing import TYPE_COLOURS, draw_regions, type_colour


def test_a_type_keeps_its_colour_whatever_else_is_drawn():
    img = torch.zeros(3, 64, 64, dtype=torch.uint8)
    alone = draw_regions(img, [(4, 4, 30, 30)], ["jpeg"], ["jpeg"], width=1)
    beside = draw_regions(img, [(40, 40, 60, 60), (4, 4, 30, 30)], ["gaussian_blur", "jpeg"], ["b", "j"], width=1)
    assert tuple(alone[:, 20, 4].tolist()) == tuple(beside[:, 20, 4].tolist()) == TYPE_COLOURS["jpeg"]
    assert tuple(beside[:, 50, 40].tolist()) == TYPE_COLOURS["gaussian_blur"]


def test_colours_are_distinct_and_stable():
    assert len(set(TYPE_COLOURS.values())) == len(TYPE_COLOURS)
    assert type_colour("vignette") == type_colour("vignette") != type_colour("chromatic_aberration")
    assert torch.equal(draw_regions(torch.ones(3, 8, 8, dtype=torch.uint8), [], [], []), torch.ones(3, 8, 8, dtype=torch.uint8))
