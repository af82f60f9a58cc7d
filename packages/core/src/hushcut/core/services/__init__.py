"""Domain services: the platform's rules, called by both the API and the worker.

Each function that writes is one transaction: it commits what it did on success and
rolls everything back when it raises. Each function that only reads ends its read
transaction before returning, so the next call sees fresh data and no connection idles
in a transaction. Functions acting for a person take an :class:`~.auth.Actor`.
"""
