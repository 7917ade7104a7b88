"""Files, images and figures of a run: checking what ``log_file``, ``log_image`` and ``log_figure``
are given, encoding images as PNG, and the artifact entries they become.

| kind    | written by                           | blob                    | metadata                                   |
|---------|--------------------------------------|-------------------------|--------------------------------------------|
| "file"  | ``log_file`` (a file, or each file of a folder: name ``folder/rel/path``), ``log_figure(svg=True)`` | the file's bytes | ``media_type`` (and ``folder`` for a folder's files) |
| "image" | ``log_image``, ``log_figure``        | PNG                     | ``media_type``, ``width``, ``height``, ``caption`` |

Every entry also carries ``size`` (bytes, beside ``blob``, which `git vault fsck` checks). Blobs are
content-addressed, so identical files and images are stored once.

PNG encoding is Pillow's (the ``images`` extra: ``pip install "git-vault[images]"``): the most used
and best kept imaging library of Python, with a C encoder (0.5 ms for 64x64 RGB here), and the one
matplotlib itself depends on. Pillow is imported only when an image is logged or read.

An image given as an array is checked and copied on the caller's thread (``pending``, a few
microseconds) and encoded by the flusher thread (`encode`), so a training loop pays well under a
millisecond per small image; a path or PIL image is encoded at once.
"""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gitvault import extras
from gitvault.names import check_name

FILE = "file"
IMAGE = "image"
KINDS = (FILE, IMAGE)
PNG = "image/png"
SVG = "image/svg+xml"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_PIL_MODES = ("L", "LA", "RGB", "RGBA")


@dataclass(slots=True)
class Pending:
    """An image checked on the caller's thread, waiting for the flusher to encode it."""

    name: str
    step: int | None
    caption: str | None
    pixels: np.ndarray  # uint8, HxW or HxWxC with C in 1..4, owned (a copy)
    created_at: str

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)


def require_pillow(what: str) -> None:
    """One line naming the extra when Pillow is absent (looked up once per process)."""
    if not extras.available("images"):
        extras.require("images", what)


_TYPES = {".yaml": "application/yaml", ".yml": "application/yaml", ".toml": "application/toml",
          ".md": "text/markdown", ".jsonl": "application/jsonl", ".log": "text/plain", ".ipynb": "application/x-ipynb+json",
          ".npy": "application/x-npy", ".parquet": "application/vnd.apache.parquet"}
"""Types of files ML runs log that Python's own table (the system's, which varies) may not know."""


def media_type(name: str) -> str:
    """The media type a file name suggests (``text/csv``), else ``application/octet-stream``."""
    known = _TYPES.get(Path(name).suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def check_caption(caption: object) -> str | None:
    if caption is None or isinstance(caption, str):
        return caption
    raise TypeError(f"caption must be a str or None, got {type(caption).__name__}")


# -- images --------------------------------------------------------------------------------------

def pixels(image: Any) -> np.ndarray:
    """An image array (HxW, or HxWxC with C = 1, 3 or 4, also 2: grey + alpha) as owned uint8
    pixels: uint8 kept, floats in [0, 1] scaled to 0..255; anything else a one-line error saying
    what to pass instead."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] not in _CHANNELS and arr.shape[0] in (1, 3, 4):
        raise ValueError(f"image shape {arr.shape} looks channels-first (CxHxW); pass HxWxC, "
                         "e.g. image.transpose(1, 2, 0)")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in _CHANNELS):
        raise ValueError(f"image must be HxW (grey) or HxWxC with C = 1, 3 or 4, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image of shape {arr.shape} is empty; give it at least one pixel")
    if arr.dtype == np.uint8:
        return np.array(arr, copy=True, order="C")
    if arr.dtype.kind == "f":
        low, high = float(arr.min()), float(arr.max())
        if not (low >= 0.0 and high <= 1.0):  # NaN fails both
            raise ValueError(f"a float image must hold values in [0, 1], got {low:g}..{high:g}; "
                             "scale it (image / 255) or clip it (np.clip(image, 0, 1))")
        return np.ascontiguousarray((arr * 255.0 + 0.5).astype(np.uint8))
    raise TypeError(f"image dtype {arr.dtype} is not supported: give uint8 (0..255) or floats in [0, 1], "
                    "e.g. image.astype(np.uint8)")


def is_pil_image(value: object) -> bool:
    """Without importing Pillow for a caller who never made a PIL image."""
    module = type(value).__module__
    return module.startswith("PIL.") and hasattr(value, "mode") and hasattr(value, "save")


def pil_pixels(image: Any) -> np.ndarray:
    """A PIL image's pixels (palette, 16-bit, CMYK... images converted to RGB or RGBA first)."""
    if image.mode not in _PIL_MODES:
        has_alpha = "A" in image.mode or "transparency" in getattr(image, "info", {})
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.array(image, dtype=np.uint8, copy=True)


def encode_png(arr: np.ndarray) -> bytes:
    """uint8 pixels as PNG bytes (Pillow; deterministic: equal pixels give equal bytes)."""
    from PIL import Image

    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[:, :, 0]
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


def image_file(path: Path) -> tuple[bytes, int, int]:
    """A picture file as PNG bytes and its width and height: a PNG is kept as it is, any other
    format Pillow reads (JPEG, GIF, BMP, WebP...) is converted."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"log_image: {path} is not a file; give an array, a PIL image or a picture's path")
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if data.startswith(_PNG_SIGNATURE):
                return data, width, height
            return encode_png(pil_pixels(img)), width, height
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"log_image: {path} is not an image Pillow can read ({exc}); "
                         "log other files with run.log_file") from None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of PNG bytes, read by Pillow."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


def image_metadata(width: int, height: int, caption: str | None, media: str = PNG, **more: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"media_type": media, "width": int(width), "height": int(height)}
    if caption is not None:
        meta["caption"] = caption
    meta.update(more)
    return meta


# -- figures -------------------------------------------------------------------------------------

def check_figure(figure: Any) -> Any:
    """A matplotlib Figure (an Axes is taken for its figure); else a TypeError."""
    if type(figure).__module__.startswith("matplotlib") and hasattr(figure, "figure") \
            and not hasattr(figure, "savefig"):
        figure = figure.figure  # an Axes
    if not (type(figure).__module__.startswith("matplotlib") and hasattr(figure, "savefig")):
        raise TypeError(f"log_figure needs a matplotlib Figure (plt.figure(), fig from plt.subplots()), "
                        f"got {type(figure).__name__}; log arrays and PIL images with run.log_image")
    return figure


def render_figure(figure: Any, fmt: str) -> bytes:
    """The figure saved as ``fmt`` (``png`` at the figure's own dpi and size, or ``svg``)."""
    out = io.BytesIO()
    figure.savefig(out, format=fmt, dpi="figure")
    return out.getvalue()


# -- files ---------------------------------------------------------------------------------------

def file_entries(source: Path, name: str) -> list[tuple[str, Path]]:
    """(artifact name, file) for a file, or for each file of a folder, its tree kept in the name
    (``name/sub/file.txt``), sorted; every name is checked before anything is stored."""
    if source.is_file():
        return [(name, source)]
    if not source.is_dir():
        raise ValueError(f"log_file: {source} is neither a file nor a folder; give the path of one")
    found = sorted(p for p in source.rglob("*") if p.is_file())
    if not found:
        raise ValueError(f"log_file: folder {source} holds no files")
    out = []
    for path in found:
        entry = f"{name}/{path.relative_to(source).as_posix()}"
        check_name(entry, f"file name (from {path})", allow_slash=True)
        out.append((entry, path))
    return out
