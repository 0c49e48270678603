"""Picture size from an H.264 sequence parameter set (ITU-T H.264 section 7.3.2.1.1), as cameras announce it in SDP.

Only the fields in front of the frame size and cropping are read; everything after them (VUI) is ignored.
"""

from __future__ import annotations

import base64
import binascii

SPS_NAL_TYPE = 7
HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}  # those that carry chroma_format_idc


class BitReader:
    """Reads an RBSP most significant bit first; running past the end raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def bit(self) -> int:
        byte_index = self.position >> 3
        if byte_index >= len(self.data):
            raise ValueError("SPS ends too early")
        value = (self.data[byte_index] >> (7 - (self.position & 7))) & 1
        self.position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        """Unsigned Exp-Golomb code."""
        leading_zeros = 0
        while self.bit() == 0:
            leading_zeros += 1
            if leading_zeros > 31:
                raise ValueError("Exp-Golomb code too long")
        return (1 << leading_zeros) - 1 + self.bits(leading_zeros)

    def se(self) -> int:
        """Signed Exp-Golomb code: 1, -1, 2, -2, ..."""
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def unescape_rbsp(nal: bytes) -> bytes:
    """Drop the emulation-prevention byte of every 00 00 03 sequence."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _skip_scaling_list(reader: BitReader, size: int) -> None:
    last_scale = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last_scale + reader.se() + 256) % 256
        last_scale = next_scale or last_scale


def sps_dimensions(nal: bytes) -> tuple[int, int]:
    """(width, height) in pixels of the cropped frame described by an SPS NAL unit (header byte included)."""
    if not nal or nal[0] & 0x1F != SPS_NAL_TYPE:
        raise ValueError("not an SPS NAL unit")
    reader = BitReader(unescape_rbsp(nal[1:]))
    profile_idc = reader.bits(8)
    reader.bits(16)  # constraint flags and level_idc
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc, separate_colour_plane = 1, 0
    if profile_idc in HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = reader.bit()
        reader.ue()  # bit_depth_luma_minus8
        reader.ue()  # bit_depth_chroma_minus8
        reader.bit()  # qpprime_y_zero_transform_bypass_flag
        if reader.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if reader.bit():
                    _skip_scaling_list(reader, 16 if index < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = reader.ue()
    if pic_order_cnt_type == 0:
        reader.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        reader.bit()  # delta_pic_order_always_zero_flag
        reader.se()  # offset_for_non_ref_pic
        reader.se()  # offset_for_top_to_bottom_field
        for _ in range(reader.ue()):
            reader.se()  # offset_for_ref_frame
    reader.ue()  # max_num_ref_frames
    reader.bit()  # gaps_in_frame_num_value_allowed_flag
    width_in_mbs = reader.ue() + 1
    height_in_map_units = reader.ue() + 1
    frame_mbs_only = reader.bit()
    if not frame_mbs_only:
        reader.bit()  # mb_adaptive_frame_field_flag
    reader.bit()  # direct_8x8_inference_flag
    crop_left = crop_right = crop_top = crop_bottom = 0
    if reader.bit():  # frame_cropping_flag
        crop_left, crop_right, crop_top, crop_bottom = reader.ue(), reader.ue(), reader.ue(), reader.ue()

    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    if chroma_array_type == 0:
        crop_unit_x, crop_unit_y = 1, 2 - frame_mbs_only
    else:
        sub_width_c = 2 if chroma_format_idc in (1, 2) else 1
        sub_height_c = 2 if chroma_format_idc == 1 else 1
        crop_unit_x, crop_unit_y = sub_width_c, sub_height_c * (2 - frame_mbs_only)
    width = width_in_mbs * 16 - crop_unit_x * (crop_left + crop_right)
    height = (2 - frame_mbs_only) * height_in_map_units * 16 - crop_unit_y * (crop_top + crop_bottom)
    if width <= 0 or height <= 0:
        raise ValueError("SPS cropping leaves no picture")
    return width, height


def sprop_dimensions(sprop_parameter_sets: str) -> tuple[int, int] | None:
    """The size from the first decodable SPS in an SDP `sprop-parameter-sets` value (base64, comma separated)."""
    for encoded in sprop_parameter_sets.split(","):
        try:
            nal = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            continue
        if nal and nal[0] & 0x1F == SPS_NAL_TYPE:
            try:
                return sps_dimensions(nal)
            except ValueError:
                continue
    return None
