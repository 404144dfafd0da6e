"""Where ``runner.commands.user`` still finds the account actions, now in
``runner.services.users``; delete with those imports once the CLI goes through the API."""

from runner.services.users import change_password, create_user

__all__ = ["change_password", "create_user"]
