"""Perceptual hash and pixel measures: near-duplicates stay near, different pictures are far, orientation is undone."""

from __future__ import annotations

from PIL import Image, ImageDraw

from infra.bench.camera_files import CameraExif, blurred, camera_jpeg, encode, scene
from processors.images.analysis import Analysed, analyse
from processors.images.measures import hamming, largest_block_change


def measured(data: bytes) -> Analysed:
    result = analyse(data)
    assert isinstance(result, Analysed), result
    return result


def test_a_resized_recompressed_copy_is_a_near_duplicate() -> None:
    picture = scene(1600, 1200, seed=5)
    original = measured(encode(picture, "JPEG", quality=92))
    copies = [
        encode(picture.resize((640, 480), Image.Resampling.LANCZOS), "JPEG", quality=60),
        encode(picture.resize((400, 300), Image.Resampling.BILINEAR), "WEBP", quality=50),
        encode(picture, "PNG"),
    ]
    for copy in copies:
        assert hamming(original.phash, measured(copy).phash) <= 6


def test_a_different_picture_is_far() -> None:
    distances = [hamming(measured(camera_jpeg(seed=1)).phash, measured(camera_jpeg(seed=seed)).phash)
                 for seed in range(2, 8)]
    assert min(distances) >= 16


def test_a_photo_stored_rotated_hashes_like_the_upright_one() -> None:
    upright = scene(640, 480, seed=3)
    # What a phone does in portrait: store the sensor's landscape pixels and say "rotate 90 CW to view" (6)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    as_stored = measured(camera_jpeg(picture=stored, spec=CameraExif(orientation=6)))
    assert (as_stored.width, as_stored.height) == (640, 480)
    assert hamming(as_stored.phash, measured(camera_jpeg(picture=upright)).phash) <= 4


def test_brightness_contrast_and_sharpness_say_what_a_person_sees() -> None:
    black = measured(encode(Image.new("RGB", (320, 240)), "JPEG"))
    grey = measured(encode(Image.new("RGB", (320, 240), (128, 128, 128)), "PNG"))
    sharp = measured(camera_jpeg(seed=4))
    soft = measured(camera_jpeg(picture=blurred(scene(640, 480, seed=4), 5)))
    assert black.brightness < 0.02 and grey.contrast < 0.01 and abs(grey.brightness - 0.5) < 0.01
    assert soft.laplacian_variance < sharp.laplacian_variance * 0.1
    assert hamming(soft.phash, sharp.phash) <= 8  # blur keeps the low frequencies the hash is made of


def test_the_luma_grid_tells_a_repeated_frame_from_a_live_one() -> None:
    picture = scene(640, 480)
    first = measured(encode(picture, "JPEG", quality=90))
    recompressed = measured(encode(picture, "JPEG", quality=70))
    assert largest_block_change(first.luma_grid, recompressed.luma_grid) <= 2
    with_clock = picture.copy()
    ImageDraw.Draw(with_clock).rectangle((20, 20, 80, 40), fill=(255, 255, 255))  # the clock's digits moved on
    ticking = measured(encode(with_clock, "JPEG", quality=90))
    assert largest_block_change(first.luma_grid, ticking.luma_grid) > 20
    assert hamming(first.phash, ticking.phash) <= 2
