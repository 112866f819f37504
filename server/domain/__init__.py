"""Domains of the Fieldbook server, one folder each."""
