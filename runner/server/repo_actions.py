"""Where ``runner.commands.repo`` still finds the repository actions, now in
``runner.services.repos``; delete with those imports once the CLI goes through the API."""

from runner.services.repos import create_repo, update_repo

__all__ = ["create_repo", "update_repo"]
