"""The analysis as a PNG (``ncnnq analyze ... plot=``), drawn with Pillow alone: per layer in
network order, a bar of the output SQNR when only that layer is int8, the curve of the SQNR when
every layer up to it is int8, the all-int8 level, and each layer's share of the MACs beneath."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Union

from PIL import Image, ImageDraw, ImageFont

from .analyze import Analysis

Font = Union[ImageFont.ImageFont, ImageFont.FreeTypeFont]
Color = tuple[int, int, int]

BACKGROUND: Color = (255, 255, 255)
INK: Color = (30, 30, 30)
GRID: Color = (225, 225, 225)
BAR: Color = (110, 160, 210)
BAR_WORST: Color = (215, 70, 60)
CURVE: Color = (20, 20, 20)
ALL_INT8: Color = (230, 140, 20)
TARGET: Color = (40, 150, 70)
MACS: Color = (150, 150, 150)

SCALE = 2
"""Drawn at twice the pixel size for crisp text."""


def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size * SCALE)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def _nice_step(span: float) -> float:
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _finite(values: Sequence[float], cap: float) -> list[float]:
    return [min(v, cap) if not math.isnan(v) else 0.0 for v in values]


def _vertical(img: Image.Image, text: str, font: Font, x: float, middle: float | None, color: Color,
              top: float = 0.0) -> None:
    """``text`` read bottom to top at ``x``: centred on ``middle``, or hanging from ``top``."""
    probe = ImageDraw.Draw(img)
    _, _, right, lower = probe.textbbox((0, 0), text, font=font)
    tile = Image.new("RGB", (int(right) + 2 * SCALE, int(lower) + 2 * SCALE), BACKGROUND)
    ImageDraw.Draw(tile).text((SCALE, 0), text, fill=color, font=font)
    tile = tile.rotate(90, expand=True)
    y = (middle * SCALE - tile.height / 2) if middle is not None else top * SCALE
    img.paste(tile, (int(x * SCALE), int(y)))


def render_png(analysis: Analysis, title: str = "", target_db: float | None = None) -> bytes:
    """The plot as PNG bytes."""
    rows = analysis.layers
    n = len(rows)
    slot = float(max(14, min(40, 900 // max(1, n))))
    left, right, top = 70, 30, 70
    plot_h, macs_h = 300, 60
    name_font = _font(9) if slot >= 12 else _font(7)
    labels = [r.name if len(r.name) <= 24 else r.name[:23] + "…" for r in rows]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels_h = 12 + max((_text_width(probe, t, name_font) for t in labels), default=0) / SCALE
    width = max(int(left + right + slot * n), 760)
    slot = (width - left - right) / max(1, n)
    height = int(top + plot_h + 20 + macs_h + labels_h)
    img = Image.new("RGB", (width * SCALE, height * SCALE), BACKGROUND)
    draw = ImageDraw.Draw(img)
    small, normal, big = _font(9), _font(11), _font(14)

    def px(x: float, y: float) -> tuple[float, float]:
        return x * SCALE, y * SCALE

    isolated = [r.isolated.sqnr_db for r in rows]
    cumulative = [r.cumulative.sqnr_db for r in rows]
    finite = [v for v in [*isolated, *cumulative, analysis.all_int8.sqnr_db] if math.isfinite(v)]
    if target_db is not None:
        finite.append(target_db)
    high = max(finite, default=40.0)
    low = min(0.0, min(finite, default=0.0))
    step = _nice_step(max(1.0, high - low))
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step + step
    span = high - low

    def y_of(db: float) -> float:
        return top + plot_h * (1 - (min(max(db, low), high) - low) / span)

    def x_of(k: int) -> float:
        return left + slot * (k + 0.5)

    # title and legend
    heading = title or "ncnnq analyze"
    draw.text(px(left, 12), heading, fill=INK, font=big)
    a = analysis.all_int8
    sub = (f"method {analysis.method}; all layers int8: output SQNR {a.sqnr_db:.1f} dB, cosine {a.cosine:.4f}; "
           f"{analysis.analysed_samples} validation samples")
    draw.text(px(left, 34), sub, fill=INK, font=small)
    legend_y = 52
    lx = float(left)
    for label, color, kind in [
        ("only this layer int8", BAR, "bar"),
        ("worst layers", BAR_WORST, "bar"),
        ("all layers up to it int8", CURVE, "line"),
        ("all layers int8", ALL_INT8, "dash"),
        *([("target", TARGET, "dash")] if target_db is not None else []),
    ]:
        if kind == "bar":
            draw.rectangle([*px(lx, legend_y), *px(lx + 10, legend_y + 9)], fill=color)
        else:
            draw.line([*px(lx, legend_y + 5), *px(lx + 14, legend_y + 5)], fill=color, width=2 * SCALE)
        draw.text(px(lx + 18, legend_y - 1), label, fill=INK, font=small)
        lx += 26 + _text_width(draw, label, small) / SCALE

    # axes and grid
    db = low
    while db <= high + 1e-9:
        y = y_of(db)
        draw.line([*px(left, y), *px(width - right, y)], fill=GRID, width=SCALE)
        label = f"{db:g}"
        draw.text(px(left - 8 - _text_width(draw, label, small) / SCALE, y - 6), label, fill=INK, font=small)
        db += step
    draw.line([*px(left, top), *px(left, top + plot_h)], fill=INK, width=SCALE)
    draw.line([*px(left, top + plot_h), *px(width - right, top + plot_h)], fill=INK, width=SCALE)
    _vertical(img, "model output SQNR vs fp32 (dB)", normal, 6, top + plot_h / 2, INK)

    # bars: isolated SQNR, the worst ones highlighted
    worst = {r.name for r in analysis.worst(max(3, n // 10))}
    base = y_of(max(low, 0.0))
    for k, (r, v) in enumerate(zip(rows, isolated)):
        x0, x1 = x_of(k) - slot * 0.38, x_of(k) + slot * 0.38
        color = BAR_WORST if r.name in worst else BAR
        y = y_of(v if math.isfinite(v) else high)
        draw.rectangle([*px(x0, min(y, base)), *px(x1, max(y, base))], fill=color)
        if math.isinf(v) and v > 0:
            draw.text(px(x_of(k) - 4, y - 2), "=", fill=INK, font=small)

    # all-int8 and target levels
    def dashed(db: float, color: Color) -> None:
        y = y_of(db)
        x = float(left)
        while x < width - right:
            draw.line([*px(x, y), *px(min(x + 8, width - right), y)], fill=color, width=2 * SCALE)
            x += 14

    if math.isfinite(a.sqnr_db):
        dashed(a.sqnr_db, ALL_INT8)
    if target_db is not None:
        dashed(target_db, TARGET)

    # cumulative curve
    points = [px(x_of(k), y_of(v if math.isfinite(v) else high)) for k, v in enumerate(cumulative)]
    if len(points) > 1:
        draw.line(points, fill=CURVE, width=2 * SCALE, joint="curve")
    for x, y in points:
        draw.ellipse([x - 2.5 * SCALE, y - 2.5 * SCALE, x + 2.5 * SCALE, y + 2.5 * SCALE], fill=CURVE)

    # MAC share strip
    strip_top = top + plot_h + 20
    most = max((r.mac_share for r in rows), default=1.0) or 1.0
    _vertical(img, "MACs", small, 10, strip_top + macs_h / 2, INK)
    for k, r in enumerate(rows):
        h = macs_h * r.mac_share / most
        draw.rectangle([*px(x_of(k) - slot * 0.38, strip_top + macs_h - h), *px(x_of(k) + slot * 0.38,
                       strip_top + macs_h)], fill=MACS)
    draw.line([*px(left, strip_top + macs_h), *px(width - right, strip_top + macs_h)], fill=INK, width=SCALE)
    top_share = f"{most:.0%}"
    draw.text(px(left - 8 - _text_width(draw, top_share, small) / SCALE, strip_top - 4), top_share, fill=INK,
              font=small)

    # layer names, rotated, under the strip
    for k, r in enumerate(rows):
        _vertical(img, labels[k], name_font, x_of(k) - 6, None, BAR_WORST if r.name in worst else INK,
                  top=strip_top + macs_h + 4)

    out = io.BytesIO()
    img.resize((width, height), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()
