"""Upright WebP thumbnails from a picture already decoded for analysis (one decode serves the facts, the measures and
every thumbnail: see analysis.examine).

A JPEG is decoded straight at the smallest DCT scale that still covers the largest thumbnail (a 12 MP photo at 1/4,
1000x750); the largest thumbnail is resized from it and every smaller one from the largest. Orientation is applied
after the reduction, when the pixels are few. Never upscales: a 100 px image gives 100 px thumbnails.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageCms

from processors.images.measures import UPRIGHT, to_luma

DEFAULT_SIZES = (128, 512)
QUALITY = 80
_SRGB = ImageCms.createProfile("sRGB")
_HIGH_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def render(image: Image.Image, orientation: int | None, sizes: Sequence[int] = DEFAULT_SIZES,
           quality: int = QUALITY) -> dict[int, bytes]:
    """{longest side: WebP bytes} of a decoded image, shown upright."""
    picture = _to_srgb(image)
    thumbnails: dict[int, bytes] = {}
    for side in sorted(set(sizes), reverse=True):
        picture = picture.copy() if max(picture.size) <= side else _fit(picture, side)
        upright = picture.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else picture
        out = io.BytesIO()
        upright.save(out, "WEBP", quality=quality, method=2)  # method 2: a third of method 4's CPU, a little larger
        thumbnails[side] = out.getvalue()
    return thumbnails


def _fit(picture: Image.Image, side: int) -> Image.Image:
    width, height = picture.size
    scale = side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Hamming: half of Lanczos' CPU for a reduction of about 2x (the decode already did the rest); a box
    # pre-reduction by an integer factor first when the source is much larger
    return picture.resize(size, Image.Resampling.HAMMING, reducing_gap=3.0)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Browsers assume sRGB for untagged WebP: convert Display P3 / Adobe RGB photos so colours survive."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    target = "RGBA" if has_alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=target)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: show the numbers as they are rather than refuse the thumbnail
    if image.mode in _HIGH_BIT:
        return to_luma(image).convert(target)
    return image.convert(target) if image.mode != target else image
