"""HEIF/HEIC through pillow-heif (libheif + libde265 in its wheel), registered on first use, not at import time."""

from __future__ import annotations

from functools import cache


@cache
def available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    # Thumbnails stored in the HEIF container are ignored: we analyse and render the primary image only
    pillow_heif.register_heif_opener()
    return True
