"""The committed app icons: drawn by server/icons.py, the right sizes, shaped for where they go."""

from __future__ import annotations

import math
import struct
import zlib
from functools import cache

import pytest

from server.icons import BRAND_BLUE, ICONS, Icon, render
from server.settings import PROJECT_ROOT

ICON_DIR = PROJECT_ROOT / "pwa" / "icons"
OPAQUE_BLUE = (*BRAND_BLUE, 255)


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int, int]]]]:
    """Width, height and RGBA pixels of a PNG as the drawer writes them (8-bit RGBA, no filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour_type, interlace) == (8, 6, 0), "expected 8-bit RGBA, not interlaced"
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 4 * width
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0, "the drawer writes no PNG filters"
        rows.append([tuple(line[1 + 4 * x : 5 + 4 * x]) for x in range(width)])
    return width, height, rows


@cache
def committed(name: str) -> tuple[int, int, list[list[tuple[int, int, int, int]]]]:
    return read_png((ICON_DIR / name).read_bytes())


def test_the_five_icons_the_manifest_and_pages_name_are_committed() -> None:
    assert sorted(path.name for path in ICON_DIR.glob("*.png")) == sorted(
        ["icon-192.png", "icon-512.png", "icon-maskable-512.png", "apple-touch-icon.png", "favicon-32.png"]
    )


@pytest.mark.parametrize("icon", ICONS, ids=lambda icon: icon.name)
def test_committed_icon_is_what_the_drawer_draws_now(icon: Icon) -> None:
    # Pixels, not bytes: another zlib build may pack the same pixels differently.
    assert committed(icon.name) == read_png(render(icon)), f"run `fieldbook icons` and commit pwa/icons/{icon.name}"


@pytest.mark.parametrize(
    "name, size",
    [
        ("icon-192.png", 192),
        ("icon-512.png", 512),
        ("icon-maskable-512.png", 512),
        ("apple-touch-icon.png", 180),
        ("favicon-32.png", 32),
    ],
)
def test_icon_is_its_named_size(name: str, size: int) -> None:
    width, height, _ = committed(name)
    assert (width, height) == (size, size)


def test_maskable_icon_is_brand_blue_to_every_corner() -> None:
    size, _, pixels = committed("icon-maskable-512.png")
    for x, y in [(0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1), (size // 2, 0), (0, size // 2)]:
        assert pixels[y][x] == OPAQUE_BLUE, (x, y)


def test_maskable_mark_stays_inside_the_safe_zone() -> None:
    # Platforms may cut a maskable icon down to the circle of 40 % radius; the mark must survive.
    size, _, pixels = committed("icon-maskable-512.png")
    centre = (size - 1) / 2
    marked = [
        math.hypot(x - centre, y - centre)
        for y, row in enumerate(pixels)
        for x, pixel in enumerate(row)
        if pixel != OPAQUE_BLUE
    ]
    assert marked, "the maskable icon shows no mark"
    assert max(marked) <= 0.4 * size


def test_apple_touch_icon_is_opaque_because_ios_paints_transparency_black() -> None:
    _, _, pixels = committed("apple-touch-icon.png")
    assert all(pixel[3] == 255 for row in pixels for pixel in row)


@pytest.mark.parametrize("name", ["icon-192.png", "icon-512.png", "favicon-32.png"])
def test_any_purpose_icon_has_rounded_transparent_corners_and_a_white_mark(name: str) -> None:
    size, _, pixels = committed(name)
    assert pixels[0][0][3] == 0 and pixels[size - 1][size - 1][3] == 0
    assert pixels[size // 2][0] == OPAQUE_BLUE  # the square reaches the edges between its corners
    assert (255, 255, 255, 255) in {pixel for row in pixels for pixel in row}
