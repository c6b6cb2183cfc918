"""Serving the detector with NVIDIA Triton: model repository, local server, gRPC client."""
