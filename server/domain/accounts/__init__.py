"""Accounts: teams, users, devices, sessions and login."""
