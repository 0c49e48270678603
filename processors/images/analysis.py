"""`examine(data, limits) -> Examined | Rejected`: everything the platform wants to know about one image file, and its
thumbnails; `analyse` for the facts alone.

Pure: bytes in, a value out, no I/O. It never raises and never decodes more pixels than the limits allow: a broken
or hostile file is a `Rejected` with a reason a person can read, and an absurd EXIF value is a `None` field named in
`notes`. What it cannot bound from inside (a decoder stuck in a loop) is the caller's to bound: run it in a worker
process with a wall-clock timeout (processors/images/pool.py). `warnings.catch_warnings` is process-global, another
reason to call it from processes rather than threads.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from processors.images import exif, heif, thumbnails
from processors.images.measures import ANALYSIS_SIDE, draft, grey_for_analysis, measure
from processors.images.sniff import sniff
from processors.images.thumbnails import DEFAULT_SIZES
from schemas.images.events import RejectCode

_PIL_FORMATS = {"JPEG": ("JPEG",), "PNG": ("PNG",), "GIF": ("GIF",), "TIFF": ("TIFF",), "WEBP": ("WEBP",),
                "HEIF": ("HEIF",)}


@dataclass(frozen=True, slots=True)
class Limits:
    """Set explicitly rather than through Pillow's global Image.MAX_IMAGE_PIXELS, which other code shares."""

    max_bytes: int = 64 * 1024 * 1024
    # Pixels the header may claim. Kept below Pillow's own warning threshold (89.5 MP) so that Pillow's check,
    # turned into an error here, only ever fires for files this limit refuses anyway.
    max_pixels: int = 80_000_000
    max_side: int = 40_000
    # Pixels actually materialised after JPEG draft: a 80 MP JPEG decodes at 1/8 scale (1.25 MP), a PNG in full
    max_decoded_pixels: int = 40_000_000
    max_exif_bytes: int = 128 * 1024
    max_jpeg_scans: int = 100
    plausible: exif.Plausible = field(default_factory=exif.Plausible)


@dataclass(frozen=True, slots=True)
class Rejected:
    code: RejectCode  # too_large | not_an_image | polyglot | bomb | unsupported | corrupt (| missing | timeout)
    reason: str


@dataclass(frozen=True, slots=True)
class Analysed:
    format: str  # JPEG (MPO included), PNG, WEBP, GIF, TIFF, HEIF
    width: int  # as displayed: EXIF orientation 5-8 swap the stored width and height
    height: int
    orientation: int | None  # as stored, 1-8; None when absent or invalid (then shown as stored)
    # DateTimeOriginal: aware when OffsetTimeOriginal gives the offset, else naive local camera time; None if bad
    taken_at: datetime | None
    make: str | None
    model: str | None
    lens_model: str | None
    exposure_time: str | None  # exact fraction as written, reduced: "1/250", "30"
    exposure_time_s: float | None
    f_number: float | None
    iso: int | None
    focal_length_mm: float | None
    gps_latitude: float | None  # decimal degrees, south negative
    gps_longitude: float | None  # decimal degrees, west negative
    gps_altitude_m: float | None  # metres, below sea level negative
    has_body_serial: bool
    sha256: str
    phash: str
    brightness: float
    contrast: float
    laplacian_variance: float  # blur measure: variance of the Laplacian of the reduced grey image
    laplacian_tile_median: float  # the same, median over 4x4 tiles: blind to a sharp clock overlay
    luma_grid: str  # block means for telling a repeated frame from a live one (measures.py)
    size_bytes: int
    trailing_bytes: int | None  # bytes after the container's end (e.g. a Motion Photo video); None: not known
    notes: tuple[str, ...] = ()



@dataclass(frozen=True, slots=True)
class Examined:
    analysed: Analysed
    thumbnails: dict[int, bytes]  # longest side -> upright WebP


DEFAULT_LIMITS = Limits()
T = TypeVar("T")


def analyse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Analysed | Rejected:
    """The facts and measures alone (a JPEG decoded at the smallest scale the measures allow)."""
    examined = guard(lambda: _examine(data, limits, ()))
    return examined if isinstance(examined, Rejected) else examined.analysed


def examine(data: bytes, limits: Limits = DEFAULT_LIMITS, sizes: Sequence[int] = DEFAULT_SIZES) -> Examined | Rejected:
    """Facts, measures and thumbnails from ONE decode: a JPEG is decoded in colour at the scale of the largest
    thumbnail (1/4 for a 12 MP photo), which costs about 10 ms more than the grey 1/8 decode analysis alone needs and
    saves a second decode (45 ms) for the thumbnails."""
    return guard(lambda: _examine(data, limits, sizes))


def guard(work: Callable[[], T | Rejected]) -> T | Rejected:
    """Run decoder work so that whatever a hostile file makes Pillow do comes back as a Rejected value."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "corrupt EXIF" chatter: the facts say what was dropped
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return work()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Rejected("bomb", "image header claims more pixels than allowed (decompression bomb)")
    except MemoryError:
        return Rejected("too_large", "decoding ran out of memory")
    except UnidentifiedImageError:
        return Rejected("corrupt", "the header cannot be read as the format its magic number claims")
    except Exception as error:  # the contract: a hostile file is a value, never a stopped worker
        return Rejected("corrupt", f"cannot decode: {type(error).__name__}: {str(error)[:160]}")


@dataclass(frozen=True, slots=True)
class Opened:
    image: Image.Image  # header read, drafted for analysis; pixels not decoded yet
    container: str
    stored_size: tuple[int, int]
    end: int | None


def open_checked(data: bytes, limits: Limits, mode: str = "L", side: int = ANALYSIS_SIDE) -> Opened | Rejected:
    """Every check that needs no pixel decoded: size, magic, polyglot, scan count, claimed and decoded pixels.

    A JPEG is drafted to `mode` and a long side of at least `side` before the decoded-pixel limit is checked.
    Raises what Pillow raises on a header it cannot read; callers run it inside their own guard.
    """
    if len(data) > limits.max_bytes:
        return Rejected("too_large", f"file is {len(data)} bytes, more than {limits.max_bytes}")
    sniffed = sniff(data)
    if sniffed.problem is not None:
        polyglot = sniffed.problem.startswith("polyglot")
        return Rejected("polyglot" if polyglot else "not_an_image", sniffed.problem)
    container = sniffed.container
    assert container is not None
    if container == "HEIF" and not heif.available():
        return Rejected("unsupported", "HEIF/HEIC needs pillow-heif, which is not installed")
    if sniffed.jpeg_scans > limits.max_jpeg_scans:
        return Rejected("bomb", f"JPEG has {sniffed.jpeg_scans} scans (limit {limits.max_jpeg_scans})")
    image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[container])
    width, height = image.size
    if max(image.size) > limits.max_side or width * height > limits.max_pixels:
        return Rejected("bomb", f"image is {width}x{height}, more than {limits.max_pixels} pixels")
    draft(image, mode, side)
    if image.width * image.height > limits.max_decoded_pixels:
        return Rejected("too_large", f"decoding {image.width}x{image.height} pixels exceeds the decode limit")
    return Opened(image, container, (width, height), sniffed.end)


def _examine(data: bytes, limits: Limits, sizes: Sequence[int]) -> Examined | Rejected:
    opened = open_checked(data, limits, "RGB", max(sizes)) if sizes else open_checked(data, limits)
    if isinstance(opened, Rejected):
        return opened
    image, container, end = opened.image, opened.container, opened.end
    stored_width, stored_height = opened.stored_size
    image.load()  # truncated or corrupt pixel data raises here, inside the guard
    facts, notes = _facts(image, limits)
    pixels = measure(grey_for_analysis(image, facts.orientation))
    swapped = facts.orientation in (5, 6, 7, 8)
    analysed = Analysed(
        format=container,
        width=stored_height if swapped else stored_width,
        height=stored_width if swapped else stored_height,
        orientation=facts.orientation,
        taken_at=facts.taken_at,
        make=facts.make,
        model=facts.model,
        lens_model=facts.lens_model,
        exposure_time=str(facts.exposure_time) if facts.exposure_time is not None else None,
        exposure_time_s=float(facts.exposure_time) if facts.exposure_time is not None else None,
        f_number=facts.f_number,
        iso=facts.iso,
        focal_length_mm=facts.focal_length_mm,
        gps_latitude=facts.gps_latitude,
        gps_longitude=facts.gps_longitude,
        gps_altitude_m=facts.gps_altitude_m,
        has_body_serial=facts.has_body_serial,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=pixels.phash,
        brightness=pixels.brightness,
        contrast=pixels.contrast,
        laplacian_variance=pixels.laplacian_variance,
        laplacian_tile_median=pixels.laplacian_tile_median,
        luma_grid=pixels.luma_grid,
        size_bytes=len(data),
        trailing_bytes=len(data) - end if end is not None and end <= len(data) else None,
        notes=notes,
    )
    return Examined(analysed, thumbnails.render(image, facts.orientation, sizes) if sizes else {})


def _facts(image: Image.Image, limits: Limits) -> tuple[exif.ExifFacts, tuple[str, ...]]:
    raw = image.info.get("exif")
    if isinstance(raw, bytes) and len(raw) > limits.max_exif_bytes:
        return exif.ExifFacts(), (f"EXIF ignored: {len(raw)} bytes, more than {limits.max_exif_bytes}",)
    try:
        facts = exif.read(image.getexif(), limits.plausible)
    except Exception as error:  # a broken IFD0 loses the EXIF facts, not the image
        return exif.ExifFacts(), (f"EXIF unreadable: {type(error).__name__}",)
    return facts, tuple(f"EXIF {name} implausible, dropped" for name in facts.dropped)
