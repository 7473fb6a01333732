"""The loss plot: train and validation loss against step, with the levels that tell what the model can do.

The bands are the original tutorial's rules of thumb for reading a loss curve. The figure keeps
one `uirevision`, so a user's zoom survives the once-a-second updates, and long curves are
thinned to a few hundred points because the whole figure is resent on every update.
"""

from __future__ import annotations

import functools
import math

import plotly.graph_objects as go
import plotly.io as pio

from gpt.locales import text

MAX_POINTS = 400

# (low, high, locale key, colour): the original tutorial's loss bands.
LOSS_BANDS = (
    (0.0, 2.0, "plot.band_good", "rgba(46, 160, 67, 0.10)"),
    (2.0, 3.0, "plot.band_meaningful", "rgba(46, 160, 67, 0.05)"),
    (3.0, 5.0, "plot.band_format", "rgba(255, 193, 7, 0.08)"),
    (5.0, 7.0, "plot.band_grammar", "rgba(255, 152, 0, 0.08)"),
    (10.0, 100.0, "plot.band_random", "rgba(220, 53, 69, 0.06)"),
)


def thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Every k-th point so at most `limit` remain, always keeping the last one."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else kept + [points[-1]]


def loss_figure(train_losses: list[tuple[int, float]], evaluations: list[dict], vocab_size: int,
                max_steps: int, language: str = "en") -> go.Figure:
    random_level = math.log(vocab_size) if vocab_size > 1 else None
    highest = max([random_level or 0] + [loss for _, loss in train_losses[:50]] +
                  [e["val_loss"] for e in evaluations[:5]] + [3.0])
    top = min(max(highest * 1.08, 3.0), 12.0)
    shapes, annotations = [], []
    for low, high, key, colour in LOSS_BANDS:
        if low < top:
            shapes.append(dict(type="rect", xref="x domain", x0=0, x1=1, y0=low, y1=min(high, top), fillcolor=colour,
                               line={"width": 0}, layer="below"))
            annotations.append(dict(text=text(key, language), xref="x domain", x=0, y=min(high, top), xanchor="left",
                                    yanchor="top", showarrow=False, font={"size": 10, "color": "gray"}))
    if random_level is not None:
        shapes.append(dict(type="line", xref="x domain", x0=0, x1=1, y0=random_level, y1=random_level,
                           line={"dash": "dot", "color": "gray"}))
        annotations.append(dict(text=text("plot.random_guess", language, vocab_size=vocab_size, level=random_level),
                                xref="x domain", x=1, y=random_level, xanchor="right", yanchor="bottom",
                                showarrow=False, font={"size": 10}))

    traces = []
    if train_losses:
        steps, losses = zip(*thin(train_losses))
        traces.append(dict(type="scatter", x=steps, y=losses, mode="lines", name=text("plot.train_batch", language),
                           line={"color": "rgba(31, 119, 180, 0.45)", "width": 1}))
    if evaluations:
        steps = [e["step"] for e in evaluations]
        traces.append(dict(type="scatter", x=steps, y=[e["train_loss"] for e in evaluations], mode="lines+markers",
                           name=text("plot.train_eval", language), line={"color": "#1f77b4", "width": 2}))
        traces.append(dict(
            type="scatter", x=steps, y=[e["val_loss"] for e in evaluations], mode="lines+markers",
            name=text("plot.val", language), line={"color": "#d62728", "width": 2},
            customdata=[[e.get("val_bpb") or float("nan")] for e in evaluations],
            hovertemplate="step %{x}<br>val loss %{y:.4f}<br>%{customdata[0]:.3f} bits/byte<extra></extra>"))

    layout = dict(
        uirevision="loss",  # keep the user's zoom across updates
        height=380, margin={"l": 50, "r": 20, "t": 30, "b": 40},
        xaxis={"title": {"text": text("plot.step", language)}, "range": [0, max(max_steps, 1)]},
        yaxis={"title": {"text": text("plot.loss", language)}, "range": [0, top]},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        shapes=shapes, annotations=annotations, template=_template(),
    )
    # Plain dicts, unchecked: plotly's validation of every property took 40 ms an update, on the
    # server thread that shares the CPU (and Python's lock) with training.
    return go.Figure(data=traces, layout=layout, _validate=False)


@functools.cache
def _template() -> dict:
    return pio.templates["plotly_white"].to_plotly_json()
