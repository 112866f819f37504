"""Sync endpoints of shared/SYNC.md: devices, push and pull."""
