"""Woodpecker's ``when.evaluate`` language: expr-lang (github.com/expr-lang/expr), in Python.

``lexer`` → ``parser`` (a Pratt parser into tuples) → ``interpreter`` (with ``values`` for the
Go-like operators and ``builtins`` for the functions). Every stage is bounded, since the
expression comes from whoever can push a commit: ``runner.pipeline.limits`` holds the budgets.
``runner.pipeline.evaluate`` is the entry point the conditions call.
"""
