"""Pixel measures on one small grey copy of the image: decoded once, reduced early, shared by every measure.

Everything here runs on an image of at most ANALYSIS_SIDE * 2 pixels on its long side, so the cost of a measure does
not grow with the camera's resolution; only the decode does, and JPEG draft mode keeps that one small too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

# The long side the measures are taken at. JPEG draft scales by 1/2, 1/4 or 1/8 and keeps the result at least this
# big, so a 4000x3000 photo is decoded straight to 500x375 (1/8: DC coefficients only, the cheapest IDCT).
ANALYSIS_SIDE = 480
LUMA_GRID = (24, 18)
# EXIF orientation -> the transpose that shows the picture upright (the table ImageOps.exif_transpose uses)
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class PixelMeasures:
    phash: str  # 64-bit DCT perceptual hash (imagehash.phash), 16 hex digits, of the upright image
    brightness: float  # mean luma, 0 (black) .. 1 (white)
    contrast: float  # standard deviation of luma, 0..0.5; near 0: a blank (uniform) frame
    laplacian_variance: float  # variance of the 4-neighbour Laplacian on 0..255 luma; low: blurred or covered
    # The median of that variance over a 4x4 grid of tiles. A camera's on-screen clock is drawn after the lens and
    # stays sharp when the picture is not; it lifts the whole-image variance, but only one or two tiles' values.
    laplacian_tile_median: float
    # Mean luma of a LUMA_GRID of blocks, base64: re-encoding and sensor noise move a block mean by a level or
    # two, a camera's burnt-in clock or anything moving moves some block by far more (see health's "frozen")
    luma_grid: str
    measured_width: int
    measured_height: int


def draft_for_analysis(image: Image.Image) -> None:
    """Ask a JPEG decoder for luma only, scaled down by the largest factor that keeps ANALYSIS_SIDE."""
    draft(image, "L", ANALYSIS_SIDE)


def draft(image: Image.Image, mode: str, side: int) -> None:
    """JPEG only: decode at the smallest DCT scale (1/2, 1/4, 1/8) whose long side is still at least `side`."""
    if image.format not in ("JPEG", "MPO"):
        return
    width, height = image.size
    scale = min(1.0, side / max(width, height))
    image.draft(mode, (max(1, int(width * scale)), max(1, int(height * scale))))


def grey_for_analysis(image: Image.Image, orientation: int | None) -> Image.Image:
    """Decoded (already drafted) image -> upright 8-bit grey of long side <= 2 * ANALYSIS_SIDE."""
    grey = to_luma(image)
    factor = max(grey.size) // ANALYSIS_SIDE
    if factor >= 2:  # integer box reduction: cheap, and a stable scale for the blur measure
        grey = grey.reduce(factor)
    if orientation in UPRIGHT:
        # The hash of the upright picture: the same scene shot in portrait and stored rotated hashes alike
        grey = grey.transpose(UPRIGHT[orientation])
    return grey


def to_luma(image: Image.Image) -> Image.Image:
    if image.mode == "L":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow's I;16 -> L conversion clips at 255 (a 16-bit frame turns white): scale by the real range instead
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) if values.size else 0.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray(np.clip(values * scale, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    return image.convert("L")


def measure(grey: Image.Image) -> PixelMeasures:
    raw = np.asarray(grey, dtype=np.uint8)
    pixels = raw.astype(np.float32)
    if pixels.shape[0] >= 3 and pixels.shape[1] >= 3:
        laplacian = (4 * pixels[1:-1, 1:-1] - pixels[:-2, 1:-1] - pixels[2:, 1:-1]
                     - pixels[1:-1, :-2] - pixels[1:-1, 2:])
        sharpness = float(laplacian.var())
        tile_median = float(np.median([tile.var() for band in np.array_split(laplacian, 4, axis=0)
                                       for tile in np.array_split(band, 4, axis=1) if tile.size]))
    else:
        sharpness = tile_median = 0.0
    return PixelMeasures(
        phash=str(imagehash.phash(grey)),
        brightness=round(float(pixels.mean()) / 255.0, 5),
        contrast=round(float(pixels.std()) / 255.0, 5),
        laplacian_variance=round(sharpness, 3),
        laplacian_tile_median=round(tile_median, 3),
        luma_grid=base64.b64encode(grey.resize(LUMA_GRID, Image.Resampling.BOX).tobytes()).decode("ascii"),
        measured_width=grey.width,
        measured_height=grey.height,
    )


def largest_block_change(left: str, right: str) -> int:
    """The largest difference of one block's mean luma (0..255) between two luma grids; 255 if incomparable."""
    try:
        old, new = base64.b64decode(left, validate=True), base64.b64decode(right, validate=True)
    except ValueError:
        return 255
    if len(old) != len(new) or not old:
        return 255
    return int(np.abs(np.frombuffer(old, np.uint8).astype(np.int16) - np.frombuffer(new, np.uint8)).max())


def hamming(left: str, right: str) -> int:
    """Bits that differ between two 16-hex-digit perceptual hashes."""
    return (int(left, 16) ^ int(right, 16)).bit_count()
