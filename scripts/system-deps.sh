#!/usr/bin/env bash
# Debian packages the tests need (idempotent): a real RTSP server (GStreamer's gst-rtsp-server,
# scripted with the system python3-gi), H.264 payloading/encoding, the ffmpeg CLI, and Chromium
# (the web UI's browser tests drive it through Playwright), jemalloc (the service's C heap,
# process.allocator), and Prometheus with promtool (deploy/'s alert rules are checked and
# evaluated by a real Prometheus).
set -euo pipefail
PKGS=(gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-libav gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-tools python3-gi ffmpeg
      chromium fonts-dejavu-core libjemalloc2 prometheus)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  # Another apt (unattended upgrades, a parallel job) may hold the dpkg lock: wait for it
  # (up to 10 minutes) instead of failing at once.
  WAIT=(-o DPkg::Lock::Timeout=600)
  $SUDO apt-get "${WAIT[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${WAIT[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}"
fi
