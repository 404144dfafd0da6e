"""Fixtures of the security tests: each claim of docs/security.md is proven against a real
server, real agents and the real Docker engine unless it is a rule of pure logic."""
