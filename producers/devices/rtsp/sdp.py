"""The video codec and picture size a camera announces in its SDP (RFC 8866) answer to DESCRIBE."""

from __future__ import annotations

import re
from dataclasses import dataclass

from producers.devices.rtsp.h264_sps import sprop_dimensions

STATIC_PAYLOAD_TYPES = {"26": "MJPEG", "31": "H261", "32": "MPV", "34": "H263"}  # RFC 3551 video types
CODEC_ALIASES = {"JPEG": "MJPEG"}
SIZE = re.compile(r"(\d+)\s*[-x,]\s*(\d+)")


@dataclass(frozen=True, slots=True)
class VideoFormat:
    codec: str | None
    width: int | None
    height: int | None


@dataclass
class _MediaSection:
    kind: str
    payload_types: list[str]
    attributes: list[tuple[str, str]]

    def attribute(self, name: str, payload_type: str | None = None) -> str | None:
        """The value of `a=name:...`; with a payload type, only `a=name:<pt> value` and without the pt prefix."""
        for key, value in self.attributes:
            if key != name:
                continue
            if payload_type is None:
                return value
            found, _, rest = value.partition(" ")
            if found == payload_type:
                return rest.strip()
        return None


def _media_sections(sdp: str) -> list[_MediaSection]:
    sections: list[_MediaSection] = []
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            fields = line[2:].split()
            sections.append(_MediaSection(fields[0].lower() if fields else "", fields[3:], []))
        elif line.startswith("a=") and sections:
            name, _, value = line[2:].partition(":")
            sections[-1].attributes.append((name.strip().lower(), value.strip()))
    return sections


def fmtp_parameters(value: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in value.split(";"):
        key, sep, found = item.partition("=")
        if sep:
            parameters[key.strip().lower()] = found.strip()
    return parameters


def _size(value: str | None) -> tuple[int, int] | None:
    match = SIZE.search(value or "")
    return (int(match[1]), int(match[2])) if match else None


def _cliprect_size(value: str | None) -> tuple[int, int] | None:
    numbers = [int(n) for n in re.findall(r"-?\d+", value or "")]
    if len(numbers) != 4:
        return None
    top, left, bottom, right = numbers
    return (right - left, bottom - top) if right > left and bottom > top else None


def video_format(sdp: str) -> VideoFormat | None:
    """Codec and size of the first video stream's first payload type; None when the SDP has no video."""
    video = next((section for section in _media_sections(sdp) if section.kind == "video"), None)
    if video is None or not video.payload_types:
        return None
    payload_type = video.payload_types[0]
    rtpmap = video.attribute("rtpmap", payload_type)
    if rtpmap:
        encoding = rtpmap.split("/")[0].strip().upper()
        codec: str | None = CODEC_ALIASES.get(encoding, encoding)
    else:
        codec = STATIC_PAYLOAD_TYPES.get(payload_type)

    size = None
    if codec == "H264":  # the SPS is what a decoder will use, so it wins over the descriptive attributes
        sprop = fmtp_parameters(video.attribute("fmtp", payload_type) or "").get("sprop-parameter-sets")
        size = sprop_dimensions(sprop) if sprop else None
    size = (size or _size(video.attribute("framesize", payload_type)) or _size(video.attribute("x-dimensions"))
            or _cliprect_size(video.attribute("cliprect")))
    width, height = size if size else (None, None)
    return VideoFormat(codec=codec, width=width, height=height)
