"""The application services: every action a person, a forge or the scheduler takes.

One module per subject — ``builds`` (trigger, cancel, restart, approve, decline, promote,
rollback), ``repos`` (activate, settings, roles), ``secrets``, ``environments``, ``crons``,
``users`` (accounts, passwords, logins, API tokens) and ``agents`` (registration, tokens,
history); ``deployments`` reads what is deployed where (the store writes it as builds move).
Each action validates its input, applies the rules that do not depend on who asks, writes
through the store and records who did it; the REST API, the web UI and the CLI (through
the API) are thin adapters that check the caller's role and call it. Errors are
``runner.errors`` classes (``BadRequest``, ``Conflict``, ``NotFound``, ``Forbidden``), which the
API answers as 4xx and the pages show as messages.

This package never imports Flask, the web UI or the API: actions take what they need (the
``Hub`` of ``runner.services.context``, or the stores) and the acting ``User``.
"""
