"""Secrets at rest: Fernet with rotation; nothing readable without a key; events and requests carry no secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.routes.devices.models import CameraIn, DeviceIn, split_camera_url
from infra.secrets import SecretBox, SecretsUnavailable, new_key
from schemas.devices.cameras import CameraSpec
from schemas.devices.events import DeviceSpec


def test_sealed_secrets_open_with_any_configured_key_and_rotate_to_the_first() -> None:
    old, new = new_key(), new_key()
    sealed = SecretBox(old).seal({"community": "s3cret-community"})
    assert b"s3cret" not in sealed
    rotating = SecretBox(f"{new},{old}")
    assert rotating.open(sealed) == {"community": "s3cret-community"}
    rotated = rotating.rotate(sealed)
    assert SecretBox(new).open(rotated) == {"community": "s3cret-community"}
    with pytest.raises(SecretsUnavailable):
        SecretBox(old).open(rotated)


def test_no_key_no_box_and_keys_stay_out_of_repr() -> None:
    with pytest.raises(SecretsUnavailable):
        SecretBox(None)
    with pytest.raises(SecretsUnavailable):
        SecretBox("not-a-fernet-key")
    key = new_key()
    assert key not in repr(SecretBox(key))


def test_the_registry_payloads_have_no_field_for_a_secret() -> None:
    for model in (DeviceSpec, CameraSpec):
        assert not {"community", "auth_key", "priv_key", "password"} & set(model.model_fields)


def test_device_input_is_validated() -> None:
    good = {"name": "sw1", "device_type": "switch", "management_ip": "2001:DB8::1",
            "snmp": {"version": "2c", "community": "public-ish"}}
    assert DeviceIn.model_validate(good).management_ip == "2001:db8::1"
    for bad in ({"management_ip": "10.0.0.256"}, {"snmp": {"version": "1", "community": "x"}},
                {"device_type": "toaster"}, {"snmp": {"version": "3", "user": "u", "auth_key": "short"}}):
        with pytest.raises(ValidationError):
            DeviceIn.model_validate({**good, **bad})
    assert "public-ish" not in repr(DeviceIn.model_validate(good))


def test_camera_urls_must_be_rtsp_without_credentials_and_secret_queries_are_kept_apart() -> None:
    for bad in ("http://cam/stream", "rtsp://user:pw@cam/stream", "file:///etc/passwd"):
        with pytest.raises(ValidationError):
            CameraIn.model_validate({"name": "c", "url": bad})
    public, secret = split_camera_url("rtsp://cam:554/s?channel=1&password=hunter22")
    assert public == "rtsp://cam:554/s?channel=1&password=REDACTED"
    assert secret == "rtsp://cam:554/s?channel=1&password=hunter22"
    assert split_camera_url("rtsp://cam/s?channel=1") == ("rtsp://cam/s?channel=1", None)
    xmeye = "rtsp://10.0.0.9/user=admin_password=tlJw_channel=1_stream=0.sdp?real_stream"
    assert split_camera_url(xmeye) == ("rtsp://10.0.0.9/user=admin_password=REDACTED_channel=1_stream=0.sdp?real_stream",
                                       xmeye)
    public, secret = split_camera_url("rtsp://cam/live?api_key=k3y&channel=2")
    assert (public, secret) == ("rtsp://cam/live?api_key=REDACTED&channel=2", "rtsp://cam/live?api_key=k3y&channel=2")
