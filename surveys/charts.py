"""Charts as server-rendered inline SVG: no JavaScript, no build step, no CDN.

Each function takes plain numbers and returns markup safe to put in a template; every
chart has a text alternative (``<title>``) and its numbers in the CSV export."""

from django.utils.formats import number_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34
COLORS = {
    "promoters": "#2e7d32",
    "passives": "#b0b0b0",
    "detractors": "#c62828",
    "issued": "#1565c0",
    "redeemed": "#2e7d32",
    "expired": "#ef6c00",
    "line": "#0b5394",
}


def _svg(title: str, body: list[str], height: int = H) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text below is escaped
        f'<svg viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}" '
        f'class="chart" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _x_labels(labels: list[str], x_of, height: int = H) -> list[str]:
    step = max(1, -(-len(labels) // 9))  # at most 9 labels: they fit at 375 px
    return [
        f'<text x="{x_of(i):.1f}" y="{height - 12}" text-anchor="middle" class="tick">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % step == 0
    ]


def _grouped(value: float) -> str:
    """A whole number with the active language's grouping: 36.131 in German, 36,131 in
    English."""
    return number_format(round(value), 0, force_grouping=True)


def _y_axis(lo: float, hi: float, y_of, ticks: int = 4, fmt="{:.0f}") -> list[str]:
    out = []
    for k in range(ticks + 1):
        v = lo + (hi - lo) * k / ticks
        y = y_of(v)
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(v) if callable(fmt) else fmt.format(v))}</text>"
        )
    return out


def empty(title: str, message: str) -> SafeString:
    return _svg(
        title,
        [
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" class="empty">{}</text>',
                W / 2,
                H / 2,
                message,
            )
        ],
    )


def _segments(points: list, x_of) -> list[list[tuple]]:
    """Runs of consecutive defined points as (x, *point); None (undefined) breaks a run:
    a gap, not a zero."""
    segments, segment = [], []
    for i, p in enumerate(points):
        if p is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append((x_of(i), *p))
    if segment:
        segments.append(segment)
    return segments


def line_with_band(
    title: str, labels: list[str], points: list[tuple | None], lo: float = -100, hi: float = 100
) -> SafeString:
    """``points``: per label (value, margin, note) or None (undefined: a gap, not a zero).
    A margin of None (too few answers) draws no band there and a hollow dot; ``note``
    is the dot's tooltip."""
    n = len(labels)
    x_of = lambda i: LEFT + (W - LEFT - RIGHT) * (i + 0.5) / max(n, 1)  # noqa: E731
    y_of = lambda v: TOP + (H - TOP - BOTTOM) * (hi - max(lo, min(hi, v))) / (hi - lo)  # noqa: E731
    body = _y_axis(lo, hi, y_of)
    body.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y_of(0):.1f}" y2="{y_of(0):.1f}" class="zero"/>'
    )
    banded = [p if p is not None and p[1] is not None else None for p in points]
    for seg in _segments(banded, x_of):
        upper = " ".join(f"{x:.1f},{y_of(v + m):.1f}" for x, v, m, _ in seg)
        lower = " ".join(f"{x:.1f},{y_of(v - m):.1f}" for x, v, m, _ in reversed(seg))
        body.append(f'<polygon points="{upper} {lower}" class="band"/>')
    for seg in _segments(points, x_of):
        line = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v, _m, _n in seg)
        body.append(f'<polyline points="{line}" class="line"/>')
        for x, v, m, note in seg:
            body.append(
                f'<circle cx="{x:.1f}" cy="{y_of(v):.1f}" r="3.5" '
                f'class="{"dot" if m is not None else "dot-few"}">'
                f"<title>{escape(note)}</title></circle>"
            )
    body += _x_labels(labels, x_of)
    return _svg(title, body)


SERIES_CLASSES = 6
"""Lines of ``lines`` are coloured by the classes series-0 .. series-5 (dashboard.css)."""


def lines(
    title: str, labels: list[str], series: list[tuple[str, list[float | None]]]
) -> SafeString:
    """Shares 0..1 as percentages, one line per ``(name, values)``; None is a gap."""
    n = len(labels)
    x_of = lambda i: LEFT + (W - LEFT - RIGHT) * (i + 0.5) / max(n, 1)  # noqa: E731
    y_of = lambda v: TOP + (H - TOP - BOTTOM) * (1 - max(0, min(1, v)))  # noqa: E731
    body = _y_axis(0, 1, y_of, fmt=lambda v: f"{v * 100:.0f} %")
    for k, (name, values) in enumerate(series):
        css = f"series-{k % SERIES_CLASSES}"
        points = [None if v is None else (v,) for v in values]
        for seg in _segments(points, x_of):
            line = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in seg)
            body.append(f'<polyline points="{line}" class="line {css}"/>')
        for i, v in enumerate(values):
            if v is not None:
                body.append(
                    f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3" class="dot {css}">'
                    f"<title>{escape(name)} {escape(labels[i])}: {v * 100:.1f} %</title></circle>"
                )
    body += _x_labels(labels, x_of)
    return _svg(title, body)


def stacked_bars(
    title: str, labels: list[str], series: list[tuple[str, str, list[int]]], share: bool = True
) -> SafeString:
    """Bars per label stacked from ``series`` = [(name, color key, values)]; as shares of
    100 % when ``share``."""
    n = len(labels)
    band = (W - LEFT - RIGHT) / max(n, 1)
    x_of = lambda i: LEFT + band * (i + 0.5)  # noqa: E731
    totals = [sum(s[2][i] for s in series) for i in range(n)]
    top = 100 if share else max([*totals, 1])
    y_of = lambda v: TOP + (H - TOP - BOTTOM) * (1 - v / top)  # noqa: E731
    body = _y_axis(0, top, y_of, fmt="{:.0f} %" if share else _grouped)
    for i in range(n):
        base = 0.0
        for name, color, values in series:
            v = values[i] * 100 / totals[i] if share and totals[i] else (0 if share else values[i])
            y0, y1 = y_of(base), y_of(base + v)
            body.append(
                f'<rect x="{x_of(i) - band * 0.38:.1f}" y="{y1:.1f}" width="{band * 0.76:.1f}" '
                f'height="{max(y0 - y1, 0):.1f}" fill="{COLORS[color]}"><title>'
                f"{escape(labels[i])} {escape(name)}: {_grouped(values[i])}</title></rect>"
            )
            base += v
    body += _x_labels(labels, x_of)
    return _svg(title, body)


def grouped_bars(title: str, labels: list[str], series: list[tuple[str, str, list[int]]]):
    n, k = len(labels), len(series)
    band = (W - LEFT - RIGHT) / max(n, 1)
    x_of = lambda i: LEFT + band * (i + 0.5)  # noqa: E731
    top = max([v for s in series for v in s[2]] + [1])
    y_of = lambda v: TOP + (H - TOP - BOTTOM) * (1 - v / top)  # noqa: E731
    body = _y_axis(0, top, y_of, fmt=_grouped)
    width = band * 0.8 / k
    for i in range(n):
        for j, (name, color, values) in enumerate(series):
            x = x_of(i) - band * 0.4 + j * width
            body.append(
                f'<rect x="{x:.1f}" y="{y_of(values[i]):.1f}" width="{width:.1f}" '
                f'height="{y_of(0) - y_of(values[i]):.1f}" fill="{COLORS[color]}"><title>'
                f"{escape(labels[i])} {escape(name)}: {_grouped(values[i])}</title></rect>"
            )
    body += _x_labels(labels, x_of)
    return _svg(title, body)


def horizontal_bars(title: str, rows: list[tuple[str, int]]) -> SafeString:
    height = TOP + 30 * max(len(rows), 1) + 10
    top = max([v for _, v in rows] + [1])
    label_w = 170
    body = []
    for i, (label, value) in enumerate(rows):
        y = TOP + 30 * i
        width = (W - label_w - 80) * value / top
        body.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="tick">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="20" '
            f'fill="{COLORS["line"]}"/><text x="{label_w + width + 6:.1f}" y="{y + 18}" '
            f'class="tick">{_grouped(value)}</text>'
        )
    return _svg(title, body, height=height)


def heatmap(
    title: str,
    row_labels: list[str],
    col_labels: list[str],
    cells: list[list[float | str | None]],
) -> SafeString:
    """Shares 0..1 as shades of blue; None (no customers) as an empty cell; a string (a
    window that has not passed yet) as a grey cell with "…" and the string as tooltip."""
    cell_h, label_w = 24, 90
    height = TOP + cell_h * (len(row_labels) + 1) + 6
    cell_w = (W - label_w - RIGHT) / max(len(col_labels), 1)
    body = [
        f'<text x="{label_w + cell_w * (j + 0.5):.1f}" y="{TOP + 14}" text-anchor="middle" '
        f'class="tick">{escape(c)}</text>'
        for j, c in enumerate(col_labels)
    ]
    for i, label in enumerate(row_labels):
        y = TOP + cell_h * (i + 1)
        body.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="tick">'
            f"{escape(label)}</text>"
        )
        for j, share in enumerate(cells[i]):
            x = label_w + cell_w * j
            box = f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 2:.1f}" height="{cell_h - 2}"'
            if share is None:
                body.append(f'{box} class="nodata"/>')
                continue
            if isinstance(share, str):
                body.append(
                    f'{box} class="notyet"><title>{escape(share)}</title></rect>'
                    f'<text x="{x + cell_w / 2:.1f}" y="{y + 16}" text-anchor="middle" '
                    f'class="tick">…</text>'
                )
                continue
            lightness = 95 - 60 * min(share, 1)
            text_class = "cell-dark" if lightness < 60 else "cell"
            body.append(
                f'{box} fill="hsl(210, 70%, {lightness:.0f}%)"/><text x="{x + cell_w / 2:.1f}" '
                f'y="{y + 16}" text-anchor="middle" class="{text_class}">{share * 100:.0f} %</text>'
            )
    return _svg(title, body, height=height)
