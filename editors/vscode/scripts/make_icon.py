#!/usr/bin/env python3
"""Writes images/icon.png, the extension's 128x128 icon: `|>` in white on a
rounded dark-blue square. Standard library only (zlib + struct), so that the
icon can be regenerated anywhere; run from editors/vscode. Kept out of the
.vsix by .vscodeignore."""
import struct
import zlib

SIZE = 128
BACKGROUND = (31, 58, 96, 255)
INK = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def inside_rounded_square(x, y, radius=24):
    # Distance from the nearest corner's centre decides the corners only.
    cx = min(max(x, radius), SIZE - 1 - radius)
    cy = min(max(y, radius), SIZE - 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def on_glyph(x, y):
    # `|`: a vertical bar; `>`: two strokes meeting at the right.
    if 30 <= x <= 42 and 28 <= y <= 100:
        return True
    half_width = 7
    for sign in (1, -1):
        # The stroke from (56, 64 - sign*34) to (98, 64).
        t = (x - 56) / 42
        if 0 <= t <= 1:
            centre = 64 - sign * 34 * (1 - t)
            if abs(y - centre) <= half_width * 1.25:
                return True
    return False


def pixel(x, y):
    if not inside_rounded_square(x, y):
        return CLEAR
    return INK if on_glyph(x, y) else BACKGROUND


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


rows = b"".join(
    b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)
)
png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(rows, 9))
    + chunk(b"IEND", b"")
)
with open("images/icon.png", "wb") as out:
    out.write(png)
