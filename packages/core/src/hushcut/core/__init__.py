"""Hushcut platform core: settings, models, services, storage, email and job events."""
