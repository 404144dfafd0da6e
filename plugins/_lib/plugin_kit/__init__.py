"""Shared helpers of the pipeline-runner plugins.

Copied into every plugin image at build time (``COPY _lib/ ...``): reading settings from
``PLUGIN_*`` and the build data, masked output and the one-line failure exit, templates, the
signed webhook call, and the Docker client of the mounted socket. The protocols themselves
are spoken by libraries installed from the wheelhouse: ``requests``, ``boto3``, the Docker SDK.
"""
