"""Strawberry's field decorators, typed: called with only keyword arguments they return Any.

``@strawberry.field(description=...)`` goes through an overload that returns ``Any``, so
mypy --strict calls every resolver it decorates untyped. These wrappers pass the resolver
positionally, through the overloads that return a ``StrawberryField``.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.types.field import StrawberryField

Resolver = Callable[..., object]
Decorator = Callable[[Resolver], StrawberryField]


def field(*, description: str | None = None) -> Decorator:
    """``@strawberry.field`` with a description."""

    def decorate(resolver: Resolver) -> StrawberryField:
        return strawberry.field(resolver, description=description)

    return decorate


def mutation(*, description: str | None = None) -> Decorator:
    """``@strawberry.mutation`` with a description."""

    def decorate(resolver: Resolver) -> StrawberryField:
        return strawberry.mutation(resolver, description=description)

    return decorate


def subscription(*, description: str | None = None) -> Decorator:
    """``@strawberry.subscription`` with a description."""

    def decorate(resolver: Resolver) -> StrawberryField:
        return strawberry.subscription(resolver, description=description)

    return decorate
