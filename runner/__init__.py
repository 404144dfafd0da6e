"""pipeline-runner: a self-hosted CI/CD pipeline runner."""

__version__ = "0.1.0"
