"""The chart of publications per month per channel: inline SVG made here, no script, no external file."""

from __future__ import annotations

from markupsafe import Markup, escape

from pipeline.report.data import ChannelFigures

COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#117a8b", "#5d6d7e")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 300, 48, 16, 36, 64


def month_chart(channels: list[ChannelFigures], *, title: str) -> Markup:
    """Grouped bars: for each month, one bar per channel; a legend below; accessible title and labels. A year
    without publications draws no chart (empty markup)."""
    shown = [c for c in channels if any(c.months)]
    if not shown:
        return Markup("")
    names = legend_names(shown)
    peak = max([max(c.months) for c in shown] + [1])
    step = _nice_step(peak)
    top = step * -(-peak // step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / 12
    bar = (slot * 0.8) / max(len(shown), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-labelledby="chart-title" class="chart">',
             f'<title id="chart-title">{escape(title)}</title>',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">{escape(title)}</text>']
    for tick in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
    for month in range(12):
        x0 = LEFT + slot * month + slot * 0.1
        for i, channel in enumerate(shown):
            value = max(channel.months[month], 0)
            h = plot_h * value / top
            parts.append(f'<rect x="{x0 + bar * i:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(names[i])} {month + 1}月: '
                         f'{value}</title></rect>')
        parts.append(f'<text x="{LEFT + slot * (month + 0.5):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                     f'font-size="11">{month + 1}月</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#333"/>')
    x = LEFT
    for i, label in enumerate(names):
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="12" height="12" fill="{COLOURS[i % len(COLOURS)]}"/>'
                     f'<text x="{x + 16}" y="{HEIGHT - 12}" font-size="12">{escape(label)}</text>')
        x += 36 + sum(12 if ord(ch) > 0x2E80 else 7 for ch in label)  # CJK glyphs are about twice as wide
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text above is escaped)


def legend_names(channels: list[ChannelFigures]) -> list[str]:
    """What the reader calls each channel (门户网站, 政府信息公开目录 …); two channels of one kind are told apart
    by number, never by their configuration keys."""
    labels = [c.label for c in channels]
    seen: dict[str, int] = {}
    names = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        names.append(label if labels.count(label) == 1 else f"{label}{seen[label]}")
    return names


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if peak / step <= 6:
            return step
    return 10 ** len(str(peak))
