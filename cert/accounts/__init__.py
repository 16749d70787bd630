"""Accounts: users and roles, API tokens."""
