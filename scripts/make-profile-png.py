#!/usr/bin/env python3
"""Writes assets/profile.png, the datasync bot's profile image (256x256 RGBA).

The same drawing as assets/icon.svg: a database cylinder and a chat bubble on blue.
Standard library only (zlib + struct), so the checked-in PNG can be re-made anywhere and
comes out byte for byte the same:

    python3 scripts/make-profile-png.py [OUT]     # default: assets/profile.png
"""

import os
import struct
import sys
import zlib

SIZE = 256
SAMPLES = 4  # 4x4 samples per pixel: smooth edges

BLUE = (30, 91, 184)
WHITE = (255, 255, 255)
RIM = (214, 228, 248)
AMBER = (255, 176, 32)


def in_ellipse(x, y, cx, cy, rx, ry):
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def in_circle(x, y, cx, cy, r):
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def in_triangle(x, y, corners):
    (ax, ay), (bx, by), (cx, cy) = corners
    d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by)
    d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy)
    d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay)
    return (d1 >= 0 and d2 >= 0 and d3 >= 0) or (d1 <= 0 and d2 <= 0 and d3 <= 0)


# The bubble's tail, pointing down-left.
TAIL = ((148, 200), (136, 230), (172, 214))


def colour(x, y):
    """The colour at (x, y) in the 256x256 drawing: later shapes paint over earlier ones."""
    c = BLUE
    # The cylinder: a body between a top and a bottom ellipse.
    if (78 <= x <= 178 and 70 <= y <= 186) or in_ellipse(x, y, 128, 186, 50, 16):
        c = WHITE
    # Two disk seams: the lower edge of the ellipse above, 5 units thick at the middle.
    for seam in (109, 148):
        if 78 <= x <= 178 and in_ellipse(x, y, 128, seam + 5, 50, 16) and not in_ellipse(x, y, 128, seam, 50, 16):
            c = BLUE
    if in_ellipse(x, y, 128, 70, 50, 16):
        c = RIM if in_ellipse(x, y, 128, 70, 43, 11) else WHITE
    # The chat bubble, cut out of the cylinder by a ring of background.
    if in_circle(x, y, 182, 182, 46):
        c = BLUE
    if in_circle(x, y, 182, 182, 40) or in_triangle(x, y, TAIL):
        c = AMBER
    for dot in (164, 182, 200):
        if in_circle(x, y, dot, 182, 6.5):
            c = WHITE
    return c


def pixels():
    rows = []
    step = 1.0 / SAMPLES
    for py in range(SIZE):
        row = bytearray([0])  # filter type 0 (None) for each scanline
        for px in range(SIZE):
            r = g = b = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    cr, cg, cb = colour(px + (sx + 0.5) * step, py + (sy + 0.5) * step)
                    r += cr
                    g += cg
                    b += cb
            n = SAMPLES * SAMPLES
            row += bytes((round(r / n), round(g / n), round(b / n), 255))
        rows.append(bytes(row))
    return b"".join(rows)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png():
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels(), 9))
        + chunk(b"IEND", b"")
    )


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(root, "assets", "profile.png"))
    data = png()
    with open(out, "wb") as f:
        f.write(data)
    print(f"{out}: {SIZE}x{SIZE}, {len(data)} bytes")


if __name__ == "__main__":
    main()
