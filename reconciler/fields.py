"""The strict pydantic base every spec object is built on, and the constrained value types
shared by spec kinds and gate rules.

Strict and frozen: an unknown key is an error (a misspelt threshold that is silently ignored
would let a bad model through a gate), and values are not coerced from other types.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Threshold = Annotated[float, Field(allow_inf_nan=False)]
Scalar = str | int | float | bool
RepoPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)
