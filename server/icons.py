"""The app icons, drawn with the standard library alone and written as PNG: `fieldbook icons`."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BRAND_BLUE = (0x0B, 0x53, 0x94)
WHITE = (0xFF, 0xFF, 0xFF)

#: Sub-rows per pixel row. Across a row, coverage is exact (the span's length inside each pixel),
#: so sixteen samples down are enough to make every edge smooth.
SUBROWS = 16

Point = tuple[float, float]
Polygon = list[Point]
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Icon:
    name: str
    size: int
    #: "rounded": a rounded blue square with transparent corners (purpose "any", favicons);
    #: "full": blue to every edge (maskable, where the platform cuts the shape; Apple's, where
    #: transparency would turn black).
    background: str
    #: The mark's box as a share of the side; a maskable icon keeps it inside the central 80 % circle.
    mark: float


ICONS = (
    Icon("icon-192.png", 192, "rounded", 0.74),
    Icon("icon-512.png", 512, "rounded", 0.74),
    Icon("icon-maskable-512.png", 512, "full", 0.60),
    Icon("apple-touch-icon.png", 180, "full", 0.70),
    # Small: the mark takes more of the square, so the pin and its check stay readable in a tab.
    Icon("favicon-32.png", 32, "rounded", 0.86),
)


# --- shapes, in pixels, y pointing down --------------------------------------------------------


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> list[Point]:
    # Segments no longer than ~2 px keep the polygon within a hundredth of a pixel of the circle.
    steps = max(8, math.ceil(abs(end - start) * r / 2))
    return [
        (cx + r * math.cos(start + (end - start) * i / steps), cy + r * math.sin(start + (end - start) * i / steps))
        for i in range(steps + 1)
    ]


def rounded_square(size: float, radius: float) -> Polygon:
    s, r = size, radius
    half = math.pi / 2
    return [
        *_arc(s - r, r, r, -half, 0),
        *_arc(s - r, s - r, r, 0, half),
        *_arc(r, s - r, r, half, 2 * half),
        *_arc(r, r, r, 2 * half, 3 * half),
    ]


def square(size: float) -> Polygon:
    return [(0.0, 0.0), (size, 0.0), (size, size), (0.0, size)]


def pin(cx: float, cy: float, r: float, tip_y: float) -> Polygon:
    """A map pin: a round head whose sides run straight, tangent to the head, to a point below."""
    alpha = math.acos(r / (tip_y - cy))  # between the downward axis and each tangent point
    down = math.pi / 2
    return [*_arc(cx, cy, r, down + alpha, down - alpha + 2 * math.pi), (cx, tip_y)]


def capsule(a: Point, b: Point, width: float) -> Polygon:
    """A stroke from a to b with round ends; two overlapping capsules make a round join."""
    r = width / 2
    heading = math.atan2(b[1] - a[1], b[0] - a[0])
    quarter = math.pi / 2
    return [*_arc(*b, r, heading - quarter, heading + quarter), *_arc(*a, r, heading + quarter, heading + 3 * quarter)]


def _oriented(polygon: Polygon) -> Polygon:
    # All polygons of a layer wind the same way, so non-zero winding draws their union.
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]))
    return polygon if area > 0 else polygon[::-1]


# --- rasterising --------------------------------------------------------------------------------


def coverage(polygons: Iterable[Polygon], width: int, height: int) -> list[list[float]]:
    """How much of each pixel the union of the polygons covers, 0 to 1."""
    rows: list[list[tuple[float, float, float, float, int]]] = [[] for _ in range(height)]
    for polygon in map(_oriented, polygons):
        for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
            if y0 == y1:
                continue
            winding = 1 if y1 > y0 else -1
            if y0 > y1:
                x0, y0, x1, y1 = x1, y1, x0, y0
            for row in range(max(0, math.floor(y0)), min(height, math.ceil(y1))):
                rows[row].append((x0, y0, x1, y1, winding))

    grid: list[list[float]] = []
    share = 1 / SUBROWS
    for row, edges in enumerate(rows):
        # Partial pixels at span ends go straight in; the run of whole pixels between goes in as
        # a difference (+ at its start, - past its end) summed once per row.
        partial = [0.0] * (width + 1)
        runs = [0.0] * (width + 1)
        for sub in range(SUBROWS):
            y = row + (sub + 0.5) * share
            crossings = sorted(
                (x0 + (y - y0) * (x1 - x0) / (y1 - y0), winding)
                for x0, y0, x1, y1, winding in edges
                if y0 <= y < y1
            )
            wound = 0
            for (x, winding), following in zip(crossings, crossings[1:] + [(0.0, 0)]):
                wound += winding
                if wound:
                    _add_span(partial, runs, max(0.0, x), min(float(width), following[0]), share)
        total = 0.0
        line = []
        for x in range(width):
            total += runs[x]
            line.append(min(1.0, total + partial[x]))
        grid.append(line)
    return grid


def _add_span(partial: list[float], runs: list[float], start: float, end: float, share: float) -> None:
    if end <= start:
        return
    first, last = int(start), int(end)
    if first == last:
        partial[first] += (end - start) * share
        return
    partial[first] += (first + 1 - start) * share
    runs[first + 1] += share
    runs[last] -= share
    partial[last] += (end - last) * share


# --- the icon -----------------------------------------------------------------------------------


def layers(icon: Icon) -> list[tuple[Colour, list[Polygon]]]:
    """The icon as painted layers, bottom first: background, white pin, the check cut in blue."""
    size = icon.size
    if icon.background == "rounded":
        background = rounded_square(size, size * 0.22)
    else:
        background = square(size)

    box = size * icon.mark
    left = (size - box) / 2
    # The pin's head sits above its point; shifting the box down a little centres the whole mark.
    top = (size - box) / 2 + box * 0.01

    def at(u: float, v: float) -> Point:
        return left + u * box, top + v * box

    head_x, head_y = at(0.5, 0.38)
    _, tip_y = at(0.5, 0.98)
    pin_shape = pin(head_x, head_y, box * 0.34, tip_y)
    stroke = box * 0.105
    check = [capsule(at(0.335, 0.40), at(0.45, 0.515), stroke), capsule(at(0.45, 0.515), at(0.665, 0.285), stroke)]
    return [(BRAND_BLUE, [background]), (WHITE, [pin_shape]), (BRAND_BLUE, check)]


def render(icon: Icon) -> bytes:
    """The icon as PNG bytes; the same icon always gives the same bytes."""
    size = icon.size
    painted = [(colour, coverage(polygons, size, size)) for colour, polygons in layers(icon)]
    raw = bytearray()
    for y in range(size):
        raw.append(0)  # PNG filter "none": flat colours compress well without one
        for x in range(size):
            red = green = blue = alpha = 0.0  # premultiplied
            for (r, g, b), grid in painted:
                cover = grid[y][x]
                if cover:
                    keep = 1 - cover
                    red, green, blue = r * cover + red * keep, g * cover + green * keep, b * cover + blue * keep
                    alpha = cover + alpha * keep
            if alpha:
                raw += bytes((round(red / alpha), round(green / alpha), round(blue / alpha), round(alpha * 255)))
            else:
                raw += b"\0\0\0\0"
    return png(size, size, bytes(raw))


def png(width: int, height: int, rgba_rows: bytes) -> bytes:
    """A PNG of 8-bit RGBA rows, each already prefixed with its filter byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rgba_rows, 9)) + chunk(b"IEND", b"")


def write_icons(folder: Path, icons: Sequence[Icon] = ICONS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for icon in icons:
        path = folder / icon.name
        path.write_bytes(render(icon))
        written.append(path)
    return written
