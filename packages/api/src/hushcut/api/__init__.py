"""Hushcut GraphQL API: the Litestar app, Strawberry schema, sign-in and webhooks."""
