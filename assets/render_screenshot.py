#!/usr/bin/env python3
"""Render a `tmux capture-pane -e` text capture (ANSI-16 SGR) into a PNG.

Used once to make assets/watch.png from `tui-shot -e` output; needs Pillow and
DejaVu Sans Mono. Usage: render_screenshot.py CAPTURE.txt OUT.png
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

PALETTE = [  # a dark terminal's 16 colours
    "#1d2021", "#cc241d", "#98971a", "#d79921", "#458588", "#b16286", "#689d6a", "#a89984",
    "#928374", "#fb4934", "#b8bb26", "#fabd2f", "#83a598", "#d3869b", "#8ec07c", "#ebdbb2",
]
FG, BG = "#ebdbb2", "#1d2021"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
# The chart is drawn in braille dots, which the mono face lacks.
BRAILLE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def cells(line):
    """Yield (char, fg, bg, bold) for one captured line."""
    fg, bg, bold, rev = None, None, False, False
    pos = 0
    for m in SGR.finditer(line + "\x1b[m"):
        for ch in line[pos:m.start()]:
            f, b = (fg or FG), (bg or BG)
            yield ch, (b if rev else f), (f if rev else b), bold
        pos = m.end()
        codes = [int(c) if c else 0 for c in m.group(1).split(";")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                fg, bg, bold, rev = None, None, False, False
            elif c == 1:
                bold = True
            elif c == 22:
                bold = False
            elif c == 7:
                rev = True
            elif c == 27:
                rev = False
            elif c == 39:
                fg = None
            elif c == 49:
                bg = None
            elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                col = PALETTE[codes[i + 2] % 16]
                fg, bg = (col, bg) if c == 38 else (fg, col)
                i += 2
            elif 30 <= c <= 37 or 90 <= c <= 97:
                fg = PALETTE[c - 30 if c < 90 else c - 82]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                bg = PALETTE[c - 40 if c < 100 else c - 92]
            i += 1


def main(src, out):
    lines = open(src, encoding="utf-8").read().rstrip("\n").split("\n")
    font, bold = ImageFont.truetype(FONT, 15), ImageFont.truetype(BOLD, 15)
    braille = ImageFont.truetype(BRAILLE, 15)
    cw = int(font.getlength("M"))
    ch = 19
    cols = max(sum(1 for _ in cells(l)) for l in lines)
    img = Image.new("RGB", (cols * cw + 24, len(lines) * ch + 24), BG)
    draw = ImageDraw.Draw(img)
    for y, line in enumerate(lines):
        for x, (c, f, b, is_bold) in enumerate(cells(line)):
            px, py = 12 + x * cw, 12 + y * ch
            if b != BG:
                draw.rectangle([px, py, px + cw, py + ch], fill=b)
            if c != " ":
                face = braille if 0x2800 <= ord(c) <= 0x28FF else (bold if is_bold else font)
                draw.text((px, py), c, fill=f, font=face)
    img.save(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
