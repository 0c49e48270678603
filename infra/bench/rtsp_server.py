"""A real RTSP server for the camera-probe tests and the demo: GStreamer's gst-rtsp-server, run by the system Python.

The venv side (`RtspTestServer`) starts this same file under /usr/bin/python3, which has PyGObject and the
GStreamer typelibs from Debian (`tests/deps.sh` installs them). One server serves one mount, `/stream`, from a
live videotestsrc -> x264enc pipeline (640x480 by default). Given a username it requires that user, challenging
with Digest (MD5 without qop, as gst-rtsp-server implements it) or Basic; the password travels in the
environment, not on the command line. The server binds port 0 and prints `READY <port>` when it listens.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

SYSTEM_PYTHON = "/usr/bin/python3"
DEPS_SCRIPT = Path(__file__).parents[2] / "tests" / "deps.sh"
MOUNT = "/stream"
PIPELINE = ("( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate=15/1 "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
            "! rtph264pay name=pay0 pt=96 )")


def gstreamer_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True).returncode == 0


def ensure_gstreamer() -> None:
    """Install the Debian packages when missing (CI on a fresh machine runs as root); fail loudly otherwise."""
    if gstreamer_available():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["bash", str(DEPS_SCRIPT)], check=True, timeout=600)
    if not gstreamer_available():
        raise RuntimeError(f"gst-rtsp-server with PyGObject is not installed: run `sudo bash {DEPS_SCRIPT}`")


class RtspTestServer:
    """`with RtspTestServer() as server:` (open) or `RtspTestServer(username=..., password=..., method="basic")`."""

    def __init__(self, *, username: str | None = None, password: str | None = None, method: str = "digest",
                 width: int = 640, height: int = 480, host: str = "127.0.0.1") -> None:
        self.username, self.password, self.method, self.host = username, password, method, host
        self.width, self.height = width, height
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}{MOUNT}"

    def start(self, ready_timeout_s: float = 20.0) -> None:
        ensure_gstreamer()
        command = [SYSTEM_PYTHON, __file__, "--method", self.method, "--width", str(self.width),
                   "--height", str(self.height), "--host", self.host]
        env = dict(os.environ)
        if self.username is not None and self.password is not None:
            command += ["--username", self.username]
            env["RTSP_TEST_PASSWORD"] = self.password
        from infra.entry.embedded import die_with_parent  # here: the server side runs without the venv

        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env,
                                         preexec_fn=die_with_parent)  # no orphan server if pytest is killed
        assert self._process.stdout is not None
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"RTSP test server exited with {self._process.returncode}")
            readable, _, _ = select.select([self._process.stdout], [], [], 0.2)
            if readable:
                line = self._process.stdout.readline()
                if line.startswith("READY "):
                    self.port = int(line.split()[1])
                    return
        self.stop()
        raise RuntimeError(f"RTSP test server not ready within {ready_timeout_s}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> RtspTestServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def serve(username: str | None, password: str | None, method: str, width: int, height: int,
          host: str = "127.0.0.1") -> None:
    """The server side, run under /usr/bin/python3 (PyGObject is not in the venv)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(width=width, height=height))
    factory.set_shared(False)  # a shared media torn down by the last DESCRIBE-only client answers the next with 503
    if username and password:
        # No default token: a request without valid credentials is answered 401 with a challenge
        auth = GstRtspServer.RTSPAuth()
        # PyGObject sees GstRTSPAuthMethod as an enum, not flags, so one server challenges with one scheme only
        scheme = GstRtsp.RTSPAuthMethod.DIGEST if method == "digest" else GstRtsp.RTSPAuthMethod.BASIC
        auth.set_supported_methods(scheme)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        if method == "digest":
            auth.add_digest(username, password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    server.get_mount_points().add_factory(MOUNT, factory)

    server.attach(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a test stream over RTSP until SIGTERM.")
    parser.add_argument("--username", help="require this user (password in $RTSP_TEST_PASSWORD)")
    parser.add_argument("--method", choices=("digest", "basic"), default="digest")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    password = os.environ.get("RTSP_TEST_PASSWORD")
    if args.username and not password:
        sys.exit("--username needs RTSP_TEST_PASSWORD in the environment")
    serve(args.username, password, args.method, args.width, args.height, args.host)


if __name__ == "__main__":
    main()
