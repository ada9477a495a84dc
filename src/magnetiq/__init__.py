"""Magnetiq v2 backend: the shell that composes the feature slices."""
