"""Tests of runner.store, runner.labels and the live log, on SQLite and PostgreSQL."""
