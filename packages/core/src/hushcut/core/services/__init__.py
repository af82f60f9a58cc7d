"""Domain services: the platform's rules, called by both the API and the worker.

Each function is one transaction: it commits what it did on success and rolls everything
back when it raises. Functions acting for a person take an :class:`~.auth.Actor`.
"""
