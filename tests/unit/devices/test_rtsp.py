"""The pure parts of the RTSP camera probe: Digest and Basic answers, SDP and SPS reading, URL handling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from producers.devices.outbound import Outbound
from producers.devices.rtsp.auth import (
    Challenge,
    authorization,
    basic_authorization,
    choose_challenge,
    digest_response,
    parse_challenges,
)
from producers.devices.rtsp.h264_sps import BitReader, sprop_dimensions, sps_dimensions, unescape_rbsp
from producers.devices.rtsp.probe import ProbeResult, _target, probe, redact_url
from producers.devices.rtsp.sdp import VideoFormat, video_format
from schemas.devices.cameras import CameraStreamChecked

# RFC 7616 section 3.9.1
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def rfc7616_challenge(algorithm: str) -> str:
    return (f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
            f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"')


def params_of(header: str) -> dict[str, str]:
    return parse_challenges([header])[0].params


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_digest_answers_match_the_rfc_7616_examples(algorithm: str, expected: str) -> None:
    challenge = parse_challenges([rfc7616_challenge(algorithm)])[0]
    header = authorization(challenge, username="Mufasa", password="Circle of Life", method="GET",
                           uri="/dir/index.html", nonce_count=1, cnonce=RFC7616_CNONCE)
    assert header.startswith("Digest ")
    assert params_of(header) == {
        "username": "Mufasa", "realm": "http-auth@example.org", "nonce": RFC7616_NONCE, "uri": "/dir/index.html",
        "response": expected, "algorithm": algorithm, "qop": "auth", "nc": "00000001", "cnonce": RFC7616_CNONCE,
        "opaque": RFC7616_OPAQUE,
    }


def test_digest_answer_matches_the_rfc_2617_example() -> None:
    response = digest_response(algorithm="MD5", username="Mufasa", realm="testrealm@host.com",
                               password="Circle Of Life", method="GET", uri="/dir/index.html",
                               nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", nc="00000001", cnonce="0a4f113b")
    assert response == "6629fae49393a05397450978507c4ef1"


def test_a_challenge_without_qop_gets_the_rfc_2069_answer_as_gstreamer_and_many_cameras_expect() -> None:
    challenge = parse_challenges(['Digest realm="GStreamer RTSP Server", nonce="f225557f56bc5c91"'])[0]
    header = authorization(challenge, username="cam", password="pw", method="DESCRIBE", uri="rtsp://h/stream")
    params = params_of(header)
    assert "qop" not in params and "nc" not in params and "cnonce" not in params and "algorithm" not in params
    # response = MD5(MD5(user:realm:pass):nonce:MD5(method:uri))
    assert params["response"] == digest_response(algorithm="MD5", username="cam", realm="GStreamer RTSP Server",
                                                 password="pw", method="DESCRIBE", uri="rtsp://h/stream",
                                                 nonce="f225557f56bc5c91", qop=None, nc="", cnonce="")


def test_digest_is_preferred_to_basic_and_the_servers_first_supported_digest_wins() -> None:
    offered = parse_challenges([
        'Basic realm="cam"',
        'Digest realm="cam", nonce="a", algorithm=SHA-512-256, Digest realm="cam", nonce="b", algorithm=SHA-256',
        'Digest realm="cam", nonce="c", algorithm=MD5',
    ])
    assert [c.scheme for c in offered] == ["basic", "digest", "digest", "digest"]
    chosen = choose_challenge(offered)
    assert chosen is not None and chosen.params["nonce"] == "b"
    assert choose_challenge(parse_challenges(['Basic realm="cam"'])) == Challenge("basic", {"realm": "cam"})
    assert choose_challenge(parse_challenges(['Bearer realm="x"'])) is None


def test_quoted_values_may_hold_commas_and_escaped_quotes() -> None:
    params = params_of(r'Digest realm="a, \"b\"", nonce="n", qop="auth,auth-int"')
    assert params == {"realm": 'a, "b"', "nonce": "n", "qop": "auth,auth-int"}


def test_session_variant_and_hashed_username() -> None:
    challenge = Challenge("digest", {"realm": "r", "nonce": "n", "algorithm": "SHA-256-sess", "qop": "auth",
                                     "userhash": "true"})
    params = params_of(authorization(challenge, username="u", password="p", method="OPTIONS", uri="rtsp://h/",
                                     cnonce="c"))
    assert params["username"] != "u" and len(params["username"]) == 64 and params["userhash"] == "true"
    assert params["response"] == digest_response(algorithm="SHA-256-sess", username="u", realm="r", password="p",
                                                 method="OPTIONS", uri="rtsp://h/", nonce="n", qop="auth",
                                                 nc="00000001", cnonce="c")


def test_basic_answer_is_rfc_7617_base64() -> None:
    assert basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


# sprop-parameter-sets as GStreamer's x264enc + rtph264pay announce them, and SPS NAL units from x264 byte streams
BASELINE_640X480 = "Z0LAFtoCgPbAWoMDA1KAAAADAIAAAA9HixdQ,aM48gA=="
BASELINE_1920X1080 = "Z0LAKNoB4AiflwFqAgICgAAAAwCAAAAPR4wZUA==,aM48gA=="
BASELINE_352X288 = "Z0LAFdoFglsBagwMDUoAAAMAAgAAAwA9HixdQA==,aM48gA=="
HIGH_1920X1080 = "Z2QAKKzZQHgCJ+XAWoCAgKAAAAMAIAAAB5HjBjLA"
MAIN_1280X720 = "Z01AH+ygKALdgLUBAQFAAAADAEAAAA8jxgxlgA=="


@pytest.mark.parametrize(("sprop", "size"), [
    (BASELINE_640X480, (640, 480)), (BASELINE_1920X1080, (1920, 1080)), (BASELINE_352X288, (352, 288)),
    (HIGH_1920X1080, (1920, 1080)), (MAIN_1280X720, (1280, 720)),
    ("aM48gA==," + BASELINE_640X480.split(",")[0], (640, 480)),  # the PPS first: the SPS is still found
])
def test_sps_gives_the_cropped_picture_size(sprop: str, size: tuple[int, int]) -> None:
    assert sprop_dimensions(sprop) == size


def test_sps_edge_cases() -> None:
    assert sprop_dimensions("aM48gA==") is None  # a PPS only
    assert sprop_dimensions("not base64!") is None
    assert sprop_dimensions("Z0LA") is None  # truncated SPS
    with pytest.raises(ValueError, match="not an SPS"):
        sps_dimensions(bytes([0x68, 0xCE]))
    assert unescape_rbsp(bytes([0, 0, 3, 1, 0, 0, 3, 0, 0])) == bytes([0, 0, 1, 0, 0, 0, 0])
    reader = BitReader(bytes([0b10100110, 0b01000000]))  # ue: 0, 1, 2 then se: ue 3 -> +2
    assert (reader.ue(), reader.ue(), reader.ue(), reader.se()) == (0, 1, 2, 2)


GSTREAMER_SDP = """v=0\r
o=- 15031210088815187337 1 IN IP4 127.0.0.1\r
s=Session streamed with GStreamer\r
t=0 0\r
a=control:*\r
m=video 0 RTP/AVP 96\r
c=IN IP4 0.0.0.0\r
a=rtpmap:96 H264/90000\r
a=framerate:15\r
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAFtoCgPbAWoMDA1KAAAADAIAAAA9HixdQ,aM48gA==\r
a=control:stream=0\r
"""

HIKVISION_STYLE_H265_SDP = """v=0
m=audio 0 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 96
a=rtpmap:96 H265/90000
a=fmtp:96 profile-id=1
a=framesize:96 2560-1440
"""

MJPEG_SDP = "v=0\nm=video 0 RTP/AVP 26\na=x-dimensions:1280,720\n"
CLIPRECT_SDP = "v=0\nm=video 0 RTP/AVP 97\na=rtpmap:97 MP4V-ES/90000\na=cliprect:0,0,576,704\n"


@pytest.mark.parametrize(("sdp", "expected"), [
    (GSTREAMER_SDP, VideoFormat("H264", 640, 480)),
    (HIKVISION_STYLE_H265_SDP, VideoFormat("H265", 2560, 1440)),
    (MJPEG_SDP, VideoFormat("MJPEG", 1280, 720)),
    ("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 JPEG/90000\n", VideoFormat("MJPEG", None, None)),
    (CLIPRECT_SDP, VideoFormat("MP4V-ES", 704, 576)),
    ("v=0\nm=audio 0 RTP/AVP 0\n", None),
])
def test_sdp_gives_the_video_codec_and_size(sdp: str, expected: VideoFormat | None) -> None:
    assert video_format(sdp) == expected


def test_framesize_stands_in_when_the_sps_is_unreadable() -> None:
    sdp = "m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 sprop-parameter-sets=Z0LA\na=framesize:96 800-600"
    assert video_format(sdp) == VideoFormat("H264", 800, 600)


@pytest.mark.parametrize(("url", "redacted"), [
    ("rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101", "rtsp://10.0.0.5:554/Streaming/Channels/101"),
    ("rtsp://admin@cam.local/stream", "rtsp://cam.local/stream"),
    ("RTSPS://u:p%40ss@[::1]:322/live", "rtsps://[::1]:322/live"),
    ("rtsp://cam/h264?channel=1&user=admin&password=hunter2", "rtsp://cam/h264?channel=1&user=admin&password=REDACTED"),
    ("rtsp://cam/stream", "rtsp://cam/stream"),
    ("rtsp://cam/live?access_token=S3cr&channel=2", "rtsp://cam/live?access_token=REDACTED&channel=2"),
    ("rtsp://10.0.0.9:554/user=admin_password=tlJw_channel=1_stream=0.sdp?real_stream",  # XMEye and its clones
     "rtsp://10.0.0.9:554/user=admin_password=REDACTED_channel=1_stream=0.sdp?real_stream"),
    ("rtsp://cam/live.sdp?user=admin_password=tlJw_channel=1", "rtsp://cam/live.sdp?user=admin_password=REDACTED_channel=1"),
])
def test_redact_url_drops_credentials(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_url_credentials_are_used_but_kept_out_of_the_request_line_and_reprs() -> None:
    target = _target("rtsp://admin:p%40ss@cam.local/live?ch=1", None, None)
    assert (target.host, target.port, target.tls) == ("cam.local", 554, False)
    assert (target.username, target.password) == ("admin", "p@ss")
    assert target.request_url == "rtsp://cam.local/live?ch=1"
    assert "p@ss" not in repr(target) and "p%40ss" not in repr(target)
    explicit = _target("rtsps://admin:old@cam.local:8322/live", "other", "new")
    assert (explicit.username, explicit.password, explicit.port, explicit.tls) == ("other", "new", 8322, True)


async def test_credentials_that_would_inject_headers_are_refused() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        await probe("rtsp://cam/stream", username="admin\r\nX-Evil: 1", password="p", timeout_s=1, outbound=Outbound())


@pytest.mark.parametrize("url", ["http://cam/stream", "rtmp://cam/live", "cam.local/stream", "file:///etc/passwd"])
async def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an RTSP URL"):
        await probe(url, username=None, password=None, timeout_s=1, outbound=Outbound())
    with pytest.raises(ValueError):
        redact_url(url)


def test_probe_result_is_frozen() -> None:
    result = ProbeResult(reachable=False, status_code=None, latency_ms=None, error="connection refused")
    with pytest.raises(AttributeError):
        result.reachable = True  # type: ignore[misc]


def test_camera_stream_checked_refuses_urls_with_credentials() -> None:
    body = {"camera_id": "cam-1", "checked_at": datetime(2026, 1, 1, tzinfo=UTC), "reachable": True,
            "status_code": 200, "latency_ms": 12.5, "codec": "H264", "width": 640, "height": 480}
    event = CameraStreamChecked.model_validate({**body, "url": "rtsp://10.0.0.5/stream"})
    assert event.model_dump(mode="json")["url"] == "rtsp://10.0.0.5/stream"
    with pytest.raises(ValidationError, match="credentials"):
        CameraStreamChecked.model_validate({**body, "url": "rtsp://admin:pw@10.0.0.5/stream"})
    with pytest.raises(ValidationError, match="rtsp"):
        CameraStreamChecked.model_validate({**body, "url": "http://10.0.0.5/stream"})
