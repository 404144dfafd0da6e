"""Shared helpers of the pipeline-runner plugins (standard library only).

Copied into every plugin image at build time (``COPY _lib/ ...``), so a plugin's entry point
can read its settings, mask secrets, and talk to the Docker Engine, S3 and HTTP endpoints
without any pip package.
"""
