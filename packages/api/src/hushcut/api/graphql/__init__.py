"""The Strawberry GraphQL schema of the Hushcut API: types, resolvers, errors, context."""
