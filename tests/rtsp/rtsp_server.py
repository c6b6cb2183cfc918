#!/usr/bin/python3
"""A real RTSP server for PeriShield's tests: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0), run with the system /usr/bin/python3 (the bindings are not on PyPI).

Serves H.264 (or, with --codec h265, HEVC) MP4 files without re-encoding at mount points,
paced in real time:

    /usr/bin/python3 rtsp_server.py --port 8554 --mount /cam1=/path/a.mp4 [--mount ...]
        [--codec h264|h265] [--shared] [--drop-probability 0.02] [--requests requests.log]

--drop-probability drops that share of RTP packets (a lossy, corrupt stream). --requests appends
every requested URL (path and query) to a file: a recorder's playback request is checked there.
Prints "ready" on stdout once listening.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mount", action="append", required=True, help="PATH=FILE")
    p.add_argument("--codec", choices=["h264", "h265"], default="h264")
    p.add_argument("--shared", action="store_true", help="one pipeline for all clients")
    p.add_argument("--drop-probability", type=float, default=0.0)
    p.add_argument("--requests", help="append requested URLs to this file")
    args = p.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount:
        path, _, filename = spec.partition("=")
        drop = (f" ! identity drop-probability={args.drop_probability}"
                if args.drop_probability else "")
        c = args.codec
        launch = (f"( filesrc location={filename} ! qtdemux ! {c}parse config-interval=-1 "
                  f"! rtp{c}pay pt=96 config-interval=1{drop} name=pay0 )")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(args.shared)
        mounts.add_factory(path, factory)

    if args.requests:
        log = open(args.requests, "a", buffering=1)  # noqa: SIM115 - open for the server's life

        def on_request(_client, ctx):
            url = ctx.uri
            log.write(f"{url.abspath}?{url.query or ''}\n")

        def on_client(_server, client):
            client.connect("describe-request", on_request)

        server.connect("client-connected", on_client)

    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        sys.exit(2)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
