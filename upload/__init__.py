"""Clips in, de-identified frame tasks out."""
