"""A real RTSP server (gst-rtsp-server, run by the system python3) with one mount per kind of camera picture.

Like infra/bench/rtsp_server.py (same READY-line handshake, same Debian packages from tests/deps.sh), but serving
several mounts from one process so a test can switch a "camera" between pictures:
  /pattern  SMPTE bars with a small moving ball in a corner (a healthy live camera)
  /black    a black frame (lens cap, dead sensor)
  /still    a picture, repeated verbatim (a frozen encoder)
  /sharp    the picture with the ball; /blurred: the same picture blurred; /moved: another view, with the ball
Pictures are files made by the test (Pillow) and passed by path. Optional login: --username, $RTSP_TEST_PASSWORD.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

SYSTEM_PYTHON = "/usr/bin/python3"
# I420 pinned: left free, the compositor may hand x264 4:4:4, which the payloader's baseline profile refuses
ENCODE = ("video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
          "! rtph264pay name=pay0 pt=96")
CAPS = "video/x-raw,width=640,height=480,framerate=10/1"
# A bouncing ball driven by the wall clock: what a camera's burnt-in clock is to a real picture. Each RTSP session
# starts its own pipeline at running time 0, so anything driven by running time would repeat frame for frame.
LIVE = ("videotestsrc pattern=ball animation-mode=wall-time motion=wavy "
        "! video/x-raw,width=192,height=96,framerate=10/1 ! comp.sink_1")
# Not live: a live compositor gives up waiting for a late input after its latency (under load the picture's decoder
# starts late, and the first frames were the empty background); with every input non-live it waits for all of them,
# and the stream's sinks pace the output at the frame rate. The caps pin the output to the camera's size.
COMPOSE = ("compositor name=comp background=black sink_1::xpos=8 sink_1::ypos=8 "
           "! video/x-raw,width=640,height=480 ! videoconvert ! " + ENCODE)


def _picture(path: str) -> str:
    return f"filesrc location={path} ! jpegdec ! imagefreeze ! videoconvert ! videoscale ! {CAPS}"


def pipelines(pictures: dict[str, str]) -> dict[str, str]:
    return {
        "/pattern": f"( videotestsrc pattern=smpte ! {CAPS} ! comp.sink_0 {LIVE} {COMPOSE} )",
        "/black": f"( videotestsrc is-live=true pattern=black ! {CAPS} ! videoconvert ! {ENCODE} )",
        "/still": f"( {_picture(pictures['sharp'])} ! videoconvert ! {ENCODE} )",  # nothing moves
        "/sharp": f"( {_picture(pictures['sharp'])} ! comp.sink_0 {LIVE} {COMPOSE} )",
        "/blurred": f"( {_picture(pictures['blurred'])} ! comp.sink_0 {LIVE} {COMPOSE} )",
        "/moved": f"( {_picture(pictures['moved'])} ! comp.sink_0 {LIVE} {COMPOSE} )",
    }


class PatternServer:
    def __init__(self, pictures: dict[str, Path], username: str | None = None, password: str | None = None):
        self.pictures, self.username, self.password = pictures, username, password
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}{mount}"

    def __enter__(self) -> PatternServer:
        from infra.bench.rtsp_server import ensure_gstreamer
        from infra.entry.embedded import die_with_parent  # here: the server side runs without the venv

        ensure_gstreamer()
        command = [SYSTEM_PYTHON, __file__] + [f"--{name}={path}" for name, path in self.pictures.items()]
        env = dict(os.environ)
        if self.username and self.password:
            command.append(f"--username={self.username}")
            env["RTSP_TEST_PASSWORD"] = self.password
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env,
                                         preexec_fn=die_with_parent)  # no orphan server if pytest is killed
        assert self._process.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self._process.poll() is None:
            if select.select([self._process.stdout], [], [], 0.2)[0]:
                line = self._process.stdout.readline()
                if line.startswith("READY "):
                    self.port = int(line.split()[1])
                    return self
        self.__exit__(None, None, None)
        raise RuntimeError("RTSP pattern server did not start")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def serve(pictures: dict[str, str], username: str | None, password: str | None) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    if username and password:  # Basic auth, one user: enough to show credentials reach ffmpeg and nowhere else
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
        server.set_auth(auth)
    for mount, launch in pipelines(pictures).items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        if username and password:
            factory.add_role_from_structure(Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        server.get_mount_points().add_factory(mount, factory)
    server.attach(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("sharp", "blurred", "moved"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--username")
    args = parser.parse_args()
    serve({"sharp": args.sharp, "blurred": args.blurred, "moved": args.moved}, args.username,
          os.environ.get("RTSP_TEST_PASSWORD"))


if __name__ == "__main__":
    sys.exit(main())
