"""The one plotting convention of distortx: plain matplotlib ``Figure`` objects on an Agg canvas (no pyplot, so no
global backend switch in a user's notebook, and threads are safe), written as PNG atomically."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

from ..io import atomic_write_bytes

PathLike = Union[str, os.PathLike]


def new_figure(width_in: float, height_in: float, dpi: int = 110, layout: str = "constrained"):
    """A ``matplotlib.figure.Figure`` of ``width_in`` x ``height_in`` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def colour_cycle():
    """The colours of matplotlib's default property cycle (read without pyplot)."""
    import matplotlib

    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def save_png(fig, path: PathLike) -> Path:
    """Write ``fig`` to ``path`` (a .png; folders created) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())
    return path
