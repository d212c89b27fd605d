"""Coordinators' authentication: passwords, sessions, CSRF tokens, login rate limits."""
