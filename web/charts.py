"""The dashboard's charts as inline SVG drawn on the server: no script, no library, nothing
fetched (the center may sit on an intranet). Each chart scales to its box (a phone's width
too), has a title and a description for screen readers, and every bar or cell carries its
label and value (`data-label`, `data-value`, a tooltip `<title>`, and the number written
beside it where there is room). Markup is built from literal templates only: every value is
escaped by `Markup.format`."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

WIDTH = 360  # the drawing's own units; it is scaled to the page
LABEL = 96  # room for a label left of horizontal bars
ROW = 22
COLORS = ("#1f4e8c", "#2e8540", "#b42318", "#b54708")
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _svg(key: str, title: str, description: str, height: float, body: list[Markup]) -> Markup:
    head = Markup(
        '<svg id="{0}" class="chart" viewBox="0 0 {1} {2:.0f}" role="img" '
        'aria-labelledby="{0}-title {0}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{0}-title">{3}</title><desc id="{0}-desc">{4}</desc>'
    ).format(key, WIDTH, height, title, description)
    return head + Markup("").join(body) + Markup("</svg>")


def _short(label: str, size: int = 7) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"


def _mark(label: str, value: int, shape: Markup, series: str = "") -> Markup:
    """One bar or cell: its shape, with its label and value for people and tests."""
    tip = f"{label}{'·' + series if series else ''}：{value}"
    return Markup(
        '<g class="mark" data-label="{}" data-value="{}" data-series="{}"><title>{}</title>{}</g>'
    ).format(label, value, series, tip, shape)


def _text(x: float, y: float, text: object, anchor: str = "start", kind: str = "") -> Markup:
    return Markup('<text x="{:.1f}" y="{:.1f}" text-anchor="{}" class="{}">{}</text>').format(
        x, y, anchor, kind, text
    )


def _rect(
    x: float, y: float, width: float, height: float, color: str, opacity: float = 1
) -> Markup:
    return Markup(
        '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" '
        'fill-opacity="{:.2f}"/>'
    ).format(x, y, width, height, color, opacity)


def _empty(key: str, title: str) -> Markup:
    return _svg(key, title, "暂无数据", 44, [_text(WIDTH / 2, 28, "暂无数据", "middle", "note")])


def bars(key: str, title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per (label, value), in the given order."""
    if not any(value for _, value in items):
        return _empty(key, title)
    top = max(value for _, value in items)
    room = WIDTH - LABEL - 44
    body = []
    for row, (label, value) in enumerate(items):
        y, length = row * ROW + 4, room * value / top
        shape = (
            _text(LABEL - 6, y + 14, _short(label), "end")
            + _rect(LABEL, y + 3, length, ROW - 8, COLORS[0])
            + _text(LABEL + length + 4, y + 14, value)
        )
        body.append(_mark(label, value, shape))
    described = "；".join(f"{label} {value}件" for label, value in items)
    return _svg(key, title, described, len(items) * ROW + 8, body)


def grouped(
    key: str, title: str, series: Sequence[str], groups: Sequence[tuple[str, Sequence[int]]]
) -> Markup:
    """For each group (a label and one value per series), a bar per series beside the label,
    under a legend of the series."""
    if not groups:
        return _empty(key, title)
    top = max(max(values) for _, values in groups) or 1
    room, thin = WIDTH - LABEL - 44, 8
    block = len(series) * (thin + 2) + 8
    body = [
        _rect(4 + n * 86, 4, 10, 10, COLORS[n]) + _text(18 + n * 86, 13, name)
        for n, name in enumerate(series)
    ]
    for row, (label, values) in enumerate(groups):
        y = 24 + row * block
        body.append(_text(LABEL - 6, y + block / 2 + 2, _short(label), "end"))
        for n, (name, value) in enumerate(zip(series, values, strict=True)):
            length, bar_y = room * value / top, y + n * (thin + 2)
            shape = _rect(LABEL, bar_y, length, thin, COLORS[n]) + _text(
                LABEL + length + 4, bar_y + thin, value, kind="small"
            )
            body.append(_mark(label, value, shape, name))
    described = "；".join(
        f"{label}：" + "，".join(f"{s} {v}" for s, v in zip(series, values, strict=True))
        for label, values in groups
    )
    return _svg(key, title, described, 24 + len(groups) * block, body)


def columns(key: str, title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """Vertical columns over days, one per (day, value); the first, middle and last days
    are written under them."""
    if not any(value for _, value in items):
        return _empty(key, title)
    top = max(value for _, value in items)
    left, height, base = 28, 120, 130
    step = (WIDTH - left - 4) / len(items)
    body = [
        _text(left - 4, base - height + 4, top, "end", "small"),
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>').format(
            left, base, WIDTH - 4, base
        ),
    ]
    for n, (day, value) in enumerate(items):
        tall = height * value / top
        shape = _rect(left + (n + 0.1) * step, base - tall, max(step * 0.8, 0.5), tall, COLORS[0])
        body.append(_mark(day, value, shape))
    for n in sorted({0, len(items) // 2, len(items) - 1}):
        anchor = "start" if n == 0 else "end" if n == len(items) - 1 else "middle"
        body.append(_text(left + (n + 0.5) * step, base + 16, items[n][0][5:], anchor, "small"))
    total = sum(value for _, value in items)
    described = f"{items[0][0]} 至 {items[-1][0]}，共 {total} 件，最多一天 {top} 件"
    return _svg(key, title, described, base + 22, body)


def heat(key: str, title: str, counts: Sequence[Sequence[int]]) -> Markup:
    """Weekday (rows, Monday first) by hour (columns): the darker, the more."""
    top = max(max(row) for row in counts)
    if not top:
        return _empty(key, title)
    left, size = 32, (WIDTH - 32 - 4) / 24
    body = [
        _text(left + (hour + 0.5) * size, 12, hour, "middle", "small")
        for hour in (0, 6, 12, 18, 23)
    ]
    for day, row in enumerate(counts):
        y = 16 + day * (size + 2)
        body.append(_text(left - 4, y + size - 3, WEEKDAYS[day], "end"))
        for hour, value in enumerate(row):
            shape = _rect(
                left + hour * size, y, size - 1, size, COLORS[0], 0.06 + 0.94 * value / top
            )
            body.append(_mark(f"{WEEKDAYS[day]} {hour}时", value, shape))
    day, hour = max(
        ((d, h) for d in range(7) for h in range(24)), key=lambda cell: counts[cell[0]][cell[1]]
    )
    return _svg(key, title, f"最多：{WEEKDAYS[day]} {hour}时 {top} 件", 16 + 7 * (size + 2), body)
