"""Hushcut pipeline: find the silences in a recording and cut them out."""
