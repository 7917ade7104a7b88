"""A small sixel encoder (DEC's bitmap graphics, drawn by xterm -ti vt340, foot, mlterm, WezTerm
and others): an image quantised by Pillow to at most 256 colours, written band by band.

No PyPI package does this without a C library (libsixel) or without being unmaintained, and the
format is short: ``ESC P q``, the raster size (``"1;1;W;H``: square pixels), one colour register
per palette entry (``#i;2;r;g;b``, percentages), then bands of six pixel rows: for each colour of
the band a run of sixel characters (``?`` + a 6-bit mask of the rows it covers, ``!n`` repeating
one), ``$`` back to the band's start for the next colour, ``-`` to the next band; ``ESC \\`` ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

START = "\x1bPq"
END = "\x1b\\"


def encode(image: Any, colours: int = 256) -> str:
    """A PIL image as a sixel string of at most ``colours`` colours (the terminal's registers;
    transparency drawn on black)."""
    from PIL import Image

    rgba = image.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    flat.alpha_composite(rgba)
    rgb = flat.convert("RGB")
    colours = max(2, min(256, colours))
    exact = rgb.getcolors(colours)  # few colours: kept exactly; else median cut, not dithered
    paletted = rgb.quantize(colors=len(exact) if exact else colours, method=Image.Quantize.MEDIANCUT,
                            dither=Image.Dither.NONE)
    return encode_indexed(np.asarray(paletted), _palette(paletted))


def _palette(paletted: Any) -> list[tuple[int, int, int]]:
    flat = paletted.getpalette() or []
    return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat) - 2, 3)]


def encode_indexed(indices: Any, palette: list[tuple[int, int, int]]) -> str:
    """Pixels as palette indices (an HxW integer array) and the palette's RGB colours, as sixel."""
    height, width = indices.shape
    used = sorted(int(i) for i in np.unique(indices))
    out = [START, f'"1;1;{width};{height}']
    out += [f"#{i};2;" + ";".join(str(_percent(c)) for c in palette[i]) for i in used]
    bands = []
    for top in range(0, height, 6):
        band = indices[top:top + 6]
        colours = np.unique(band)
        bits = (band[:, :, None] == colours[None, None, :]).astype(np.int64)  # row, x, colour
        masks = (bits << np.arange(band.shape[0])[:, None, None]).sum(axis=0)  # x, colour: the sixel of each
        bands.append("$".join(f"#{int(c)}" + _run_length(masks[:, k]) for k, c in enumerate(colours)))
    out.append("-".join(bands))
    out.append(END)
    return "".join(out)


def _percent(value: int) -> int:
    return round(value * 100 / 255)


def _run_length(masks: Any) -> str:
    """One colour's row of sixels, repeats of four or more written as ``!n<char>``."""
    edges = np.flatnonzero(np.diff(masks)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(masks)]))
    parts = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        char, count = chr(63 + int(masks[start])), end - start
        parts.append(f"!{count}{char}" if count >= 4 else char * count)
    return "".join(parts)
