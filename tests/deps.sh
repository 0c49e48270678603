#!/usr/bin/env bash
# System packages the tests need beyond the venv: GStreamer's RTSP server (and PyGObject for the system
# python3) for tests/rtsp_server.py; Chromium for the real-browser live-push test; exiftool (the independent EXIF
# reader the image tests check against) and ffmpeg (camera snapshots). Idempotent: does nothing when
# they are already there.
set -euo pipefail

PACKAGES=(python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0
          gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly chromium
          libimage-exiftool-perl ffmpeg)

installed=$(dpkg-query -W -f='${Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -c "install ok installed" || true)
[ "$installed" = "${#PACKAGES[@]}" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
