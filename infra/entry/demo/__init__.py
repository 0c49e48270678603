"""The living demo of `opsledger up` (README "The demo"): simulated switches (snmpsim on loopback), a camera when
GStreamer's RTSP server is installed, cylinders moving through their states with two workers and a handful of
customers, ingress readings over several nodes, and alert rules that fire. Everything goes through the API, as a
person or a handheld would; only the demo's own users are created like `opsledger users create` does."""
