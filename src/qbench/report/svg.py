"""Small inline-SVG charts for the HTML report: a scatter, grouped bars, stacked bars and horizontal bars.

Why hand-written SVG and not matplotlib: the report must be one self-contained file that opens offline, and a
plotting library would be a heavy install for four chart shapes. Every function returns an ``<svg>`` string
with a ``viewBox`` (so CSS can scale it), a ``<title>`` for screen readers, escaped text, and no scripts.
Values may be NaN or None: they are left out of the drawing, never drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import TypeGuard

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
INK = "#222"
GRID = "#e3e3e3"
MUTED = "#666"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def color(i: int) -> str:
    """The i-th series colour; cycles when there are more series than colours."""
    return PALETTE[i % len(PALETTE)]


def text_color_on(fill: str) -> str:
    """White or dark text, whichever reads better on a ``#rrggbb`` fill (by relative luminance)."""
    r, g, b = (int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "#fff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.55 else INK


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: float) -> str:
    """Coordinates with one decimal: keeps files small and renders identically."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi], so axes read at a glance."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _tick_label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    scaled = step * 10**digits
    if step > 0 and abs(scaled - round(scaled)) > 1e-6:
        digits += 1
    return f"{value:.{digits}f}"


def _text(
    x: float, y: float, text: str, *, size: int = 11, anchor: str = "middle", fill: str = INK, extra: str = ""
) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"'
        f"{' ' + extra if extra else ''}>{escape(text)}</text>"
    )


def _open(width: float, height: float, title: str, css_class: str) -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" {FONT}><title>{escape(title)}</title>'
    )


def _legend(
    names: Sequence[str], x: float, y: float, max_width: float, colors: Sequence[str] = PALETTE
) -> tuple[list[str], float]:
    """Legend swatches laid out left to right, wrapping; returns the parts and the height used."""
    parts: list[str] = []
    cx, cy = x, y
    for i, name in enumerate(names):
        label = name if len(name) <= 40 else name[:39] + "…"
        w = 18 + 6.5 * len(label) + 14
        if cx + w > x + max_width and cx > x:
            cx, cy = x, cy + 18
        swatch = colors[i % len(colors)]
        parts.append(
            f'<rect x="{_num(cx)}" y="{_num(cy - 9)}" width="12" height="12" rx="2" fill="{swatch}"/>'
        )
        parts.append(_text(cx + 17, cy + 1, label, anchor="start"))
        cx += w
    return parts, cy - y + 18


def scatter(
    points: Sequence[tuple[float, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    subtitle: str = "",
    width: int = 340,
    height: int = 270,
    point_color: str = PALETTE[0],
    fit_line: bool = True,
) -> str:
    """Each point one image: the model's score (x) against its human MOS (y), with a least-squares line.

    A scatter shows what SRCC/PLCC hide: clusters, saturated scores, outliers, a database the model reads
    backwards. Points are drawn as one path of round zero-length segments, so thousands stay light.
    """
    pts = [(x, y) for x, y in points if _finite(x) and _finite(y)]
    left, right, top, bottom = 46, 12, 38 if subtitle else 26, 38
    pw, ph = width - left - right, height - top - bottom
    out = [_open(width, height, f"{title}: {y_label} against {x_label}", "plot scatter")]
    out.append(_text(left, 15, title, size=12, anchor="start", extra='font-weight="600"'))
    if subtitle:
        out.append(_text(left, 29, subtitle, size=10, anchor="start", fill=MUTED))
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="{GRID}"/>')
    if not pts:
        out.append(_text(left + pw / 2, top + ph / 2, "no finished samples", fill=MUTED))
        out.append("</svg>")
        return "".join(out)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = _padded(min(xs), max(xs))
    y0, y1 = _padded(min(ys), max(ys))

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    out.extend(_axes_ticks(x0, x1, y0, y1, sx, sy, left, top, pw, ph))
    dots = "".join(f"M{_num(sx(x))} {_num(sy(y))}h0" for x, y in pts)
    radius = 3.2 if len(pts) <= 300 else 2.4 if len(pts) <= 1200 else 1.9
    out.append(
        f'<path d="{dots}" stroke="{point_color}" stroke-opacity="{0.55 if len(pts) > 300 else 0.75}" '
        f'stroke-width="{radius * 2}" stroke-linecap="round" fill="none"/>'
    )
    segment = _least_squares(xs, ys, (x0, x1), (y0, y1)) if fit_line and len(pts) >= 3 else None
    if segment is not None:
        (ax, ay), (bx, by) = segment
        out.append(
            f'<line x1="{_num(sx(ax))}" y1="{_num(sy(ay))}" x2="{_num(sx(bx))}" y2="{_num(sy(by))}" '
            f'stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 3"/>'
        )
    out.append(_text(left + pw / 2, height - 6, x_label, fill=MUTED))
    out.append(
        _text(12, top + ph / 2, y_label, fill=MUTED, extra=f'transform="rotate(-90 12 {_num(top + ph / 2)})"')
    )
    out.append("</svg>")
    return "".join(out)


def _padded(lo: float, hi: float) -> tuple[float, float]:
    if hi == lo:
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _least_squares(
    xs: Sequence[float], ys: Sequence[float], x_range: tuple[float, float], y_range: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The least-squares line of y on x, cut to the plot box (end points in data units); None if undefined."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icept = my - slope * mx
    lo, hi = x_range
    if slope != 0:
        xa, xb = sorted(((y_range[0] - icept) / slope, (y_range[1] - icept) / slope))
        lo, hi = max(lo, xa), min(hi, xb)
    elif not y_range[0] <= icept <= y_range[1]:
        return None
    if lo >= hi:
        return None
    return (lo, icept + slope * lo), (hi, icept + slope * hi)


def _axes_ticks(
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    left: float,
    top: float,
    pw: float,
    ph: float,
) -> list[str]:
    """Grid lines and round tick labels on both axes; ``sx``/``sy`` map data units to pixels."""
    parts = []
    xt = nice_ticks(x0, x1, 4)
    yt = nice_ticks(y0, y1, 5)
    xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    for v in xt:
        x = sx(v)
        parts.append(
            f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{_num(top + ph)}" stroke="{GRID}"/>'
        )
        parts.append(_text(x, top + ph + 14, _tick_label(v, xstep), size=10, fill=MUTED))
    for v in yt:
        y = sy(v)
        parts.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{_num(left + pw)}" y2="{_num(y)}" stroke="{GRID}"/>'
        )
        parts.append(_text(left - 4, y + 3.5, _tick_label(v, ystep), size=10, anchor="end", fill=MUTED))
    return parts


def bar_groups(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    y_max: float = 1.0,
    percent: bool = True,
    width: int | None = None,
    plot_height: int = 190,
) -> str:
    """Vertical bars: one group per category (question type, concern), one bar per series (model).

    Values are fractions; with ``percent`` the axis and labels read 0-100 %. Missing values leave a gap
    (a model that was never asked that kind of question is not a model that got it all wrong). The width
    grows with the number of bars (up to 1160 px) so that one model does not get bars a hand wide.
    """
    n_groups, n_series = max(len(groups), 1), max(len(series), 1)
    if width is None:
        width = int(min(1160, max(560, 60 + n_groups * max(96, n_series * 20 + 28))))
    names = [name for name, _ in series]
    legend, legend_h = _legend(names, 56, 40, width - 70)
    left, right, top, bottom = 50, 10, 34 + legend_h, 44
    pw, ph = width - left - right, plot_height
    height = top + ph + bottom
    out = [_open(width, height, title, "plot bars")]
    out.append(_text(left, 16, title, size=13, anchor="start", extra='font-weight="600"'))
    out.extend(legend)

    def sy(v: float) -> float:
        return top + ph - max(0.0, min(v, y_max)) / y_max * ph

    ticks = nice_ticks(0, y_max, 4)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else y_max
    for v in ticks:
        y = sy(v)
        out.append(f'<line x1="{left}" y1="{_num(y)}" x2="{left + pw}" y2="{_num(y)}" stroke="{GRID}"/>')
        label = f"{v * 100:.0f}%" if percent else _tick_label(v, step)
        out.append(_text(left - 5, y + 3.5, label, size=10, anchor="end", fill=MUTED))
    group_w = pw / n_groups
    bar_w = min(30.0, group_w * 0.8 / n_series)
    for g, group in enumerate(groups):
        gx = left + g * group_w + (group_w - bar_w * n_series) / 2
        for s, (name, values) in enumerate(series):
            value = values[g] if g < len(values) else None
            if not _finite(value):
                continue
            v = float(value)
            x, y = gx + s * bar_w, sy(v)
            tip = f"{name}, {group}: " + (f"{100 * v:.2f}%" if percent else f"{v:.3f}")
            out.append(
                f'<rect x="{_num(x + 1)}" y="{_num(y)}" width="{_num(max(bar_w - 2, 1))}" '
                f'height="{_num(top + ph - y)}" fill="{color(s)}"><title>{escape(tip)}</title></rect>'
            )
            if n_series <= 4 and bar_w >= 20:
                label = f"{100 * v:.0f}" if percent else f"{v:.2f}"
                out.append(_text(x + bar_w / 2, y - 3, label, size=9, fill=MUTED))
        for i, line in enumerate(_wrap(group, max(8, int(group_w / 6.2)))):
            out.append(_text(left + g * group_w + group_w / 2, top + ph + 15 + 13 * i, line, size=11))
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="{INK}"/>')
    out.append("</svg>")
    return "".join(out)


def _wrap(text: str, limit: int) -> list[str]:
    """At most two lines of about ``limit`` characters, split at spaces ("In-context" / "Distortion")."""
    if len(text) <= limit or " " not in text:
        return [text]
    words = text.split()
    first = words[0]
    for i in range(1, len(words)):
        if len(" ".join(words[: i + 1])) > limit:
            break
        first = " ".join(words[: i + 1])
    rest = text[len(first) :].strip()
    return [first, _short(rest, limit)] if rest else [first]


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    segments: Sequence[str],
    *,
    title: str,
    colors: Sequence[str] | None = None,
    width: int = 900,
    row_height: int = 24,
    label_width: int = 260,
) -> str:
    """Horizontal 100 % bars: each row a distribution over ``segments`` (A2: shares of scores 0, 1, 2).

    A mean hides whether a model is often wrong or always mediocre; the shares show which.
    """
    palette = list(colors or PALETTE)
    legend, legend_h = _legend(list(segments), label_width, 40, width - label_width - 10, palette)
    top = 34 + legend_h
    height = top + row_height * len(rows) + 26
    pw = width - label_width - 16
    out = [_open(width, height, title, "plot stacked")]
    out.append(_text(10, 16, title, size=13, anchor="start", extra='font-weight="600"'))
    out.extend(legend)
    for r, (label, shares) in enumerate(rows):
        y = top + r * row_height
        out.append(_text(label_width - 8, y + row_height / 2 + 4, _short(label, 42), anchor="end"))
        x = float(label_width)
        total = sum(float(s) for s in shares if _finite(s))
        if total <= 0:
            out.append(_text(x + 4, y + row_height / 2 + 4, "no data", anchor="start", fill=MUTED))
            continue
        for i, share in enumerate(shares):
            if not _finite(share) or share <= 0:
                continue
            w = float(share) / total * pw
            fill = palette[i % len(palette)]
            tip = f"{label}: {segments[i]} {100 * float(share) / total:.1f}%"
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y + 3)}" width="{_num(w)}" height="{row_height - 6}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            if w >= 34:
                text_fill = text_color_on(fill)
                out.append(
                    _text(
                        x + w / 2,
                        y + row_height / 2 + 4,
                        f"{100 * float(share) / total:.0f}%",
                        size=10,
                        fill=text_fill,
                    )
                )
            x += w
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_width + v * pw
        out.append(_text(x, height - 8, f"{v * 100:.0f}%", size=10, fill=MUTED))
    out.append("</svg>")
    return "".join(out)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hbars(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    x_max: float | None = None,
    percent: bool = True,
    width: int = 900,
    row_height: int = 22,
    label_width: int = 380,
    bar_color: str = "#D55E00",
) -> str:
    """One horizontal bar per item with its value written beside it (invalid-answer rates, error rates).

    The axis starts at zero and ends at the largest value (at least 5 %), so small rates stay visible
    without exaggerating them.
    """
    values = [float(v) for _, v in items if _finite(v)]
    top_value = x_max if x_max is not None else max([*values, 0.05])
    top = 30
    height = top + row_height * len(items) + 10
    pw = width - label_width - 70
    out = [_open(width, height, title, "plot hbars")]
    out.append(_text(10, 16, title, size=13, anchor="start", extra='font-weight="600"'))
    for r, (label, value) in enumerate(items):
        y = top + r * row_height
        out.append(_text(label_width - 8, y + row_height / 2 + 4, _short(label, 60), anchor="end"))
        out.append(
            f'<rect x="{label_width}" y="{_num(y + 3)}" width="{pw}" height="{row_height - 6}" fill="#f3f3f3"/>'
        )
        if not _finite(value):
            out.append(_text(label_width + 4, y + row_height / 2 + 4, "NaN", anchor="start", fill=MUTED))
            continue
        w = min(float(value) / top_value, 1.0) * pw if top_value > 0 else 0
        out.append(
            f'<rect x="{label_width}" y="{_num(y + 3)}" width="{_num(w)}" height="{row_height - 6}" '
            f'fill="{bar_color}"/>'
        )
        text = f"{100 * float(value):.1f}%" if percent else f"{float(value):.3f}"
        out.append(_text(label_width + w + 5, y + row_height / 2 + 4, text, anchor="start"))
    out.append("</svg>")
    return "".join(out)
