"""The strict pydantic base every spec object is built on, and the constrained value types
shared by spec kinds and gate rules.

Strict and frozen: an unknown key is an error (a misspelt threshold that is silently ignored
would let a bad model through a gate), and values are not coerced from other types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

Threshold = Annotated[float, Field(allow_inf_nan=False)]
Scalar = str | int | float | bool
RepoPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


def tagged_union(
    members: Sequence[tuple[str, type[Spec]]], which: Callable[[Any], str | None], error: str, message: str
) -> Any:
    """A union of spec classes told apart by `which` (a value -> its tag), as the registries of
    gate rules and dataset sources build them: the schema lists the members in this order."""
    return Annotated[
        Union[tuple(Annotated[spec, Tag(tag)] for tag, spec in members)],  # noqa: UP007
        Discriminator(which, custom_error_type=error, custom_error_message=message),
    ]
