#!/usr/bin/env bash
# System packages the tests need beyond the venv: GStreamer's RTSP server (and PyGObject for the system
# python3) for infra/bench/rtsp_server.py (the demo camera too); Chromium for the real-browser live-push test; exiftool (the independent
# EXIF reader the image tests check against) and ffmpeg (camera snapshots); redis-server for the shared rate limiter
# (test_abuse_limits); Node.js and npm for the OpenID provider of the external-login tests (its npm packages are
# installed by `npm ci` in tests/helpers/oidc_provider, from its package-lock.json).
# Idempotent: does nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0
          gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly chromium redis-server
          libimage-exiftool-perl ffmpeg)

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
installed=$(dpkg-query -W -f='${Status}\n' "${PACKAGES[@]}" 2>/dev/null | grep -c "install ok installed" || true)
if [ "$installed" != "${#PACKAGES[@]}" ] || ! command -v npm >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

PROVIDER=tests/helpers/oidc_provider
if [ -f "$PROVIDER/package-lock.json" ] && [ ! -f "$PROVIDER/node_modules/oidc-provider/package.json" ]; then
    (cd "$PROVIDER" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
