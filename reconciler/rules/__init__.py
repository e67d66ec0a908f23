"""Gate rule types, one module each, and their registry.

To add a rule type: write a module with its spec (a pydantic class on reconciler.fields.Spec)
and a RuleType subclass, and add an instance to RULE_TYPES. The Gate spec, the JSON schema,
validation, measurement, evaluation, plans and policies all read it from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reconciler.fields import Spec, tagged_union
from reconciler.rules.base import RuleType
from reconciler.rules.baseline import Baseline
from reconciler.rules.cost import Cost
from reconciler.rules.metric import Metric
from reconciler.rules.parity import Parity

# In the order the schema and error messages list them.
RULE_TYPES: tuple[RuleType[Any], ...] = (Metric(), Cost(), Baseline(), Parity())

_BY_SPEC: dict[type[Spec], RuleType[Any]] = {t.spec: t for t in RULE_TYPES}


def rule_type(rule: Spec) -> RuleType[Any]:
    return _BY_SPEC[type(rule)]


def _subject(value: Any) -> str | None:
    """Which rule type a spec mapping is: the one whose subject key it has. A rule may also
    carry another type's subject as a field (`baseline` rules name a `metric`); the type whose
    fields include the others' subjects is the one meant."""
    if isinstance(value, BaseModel):
        found = _BY_SPEC.get(type(value))  # type: ignore[arg-type]
        return found.subject if found else None
    if not isinstance(value, dict):
        return None
    present = [t for t in RULE_TYPES if t.subject in value]
    meant = [t for t in present if not any(t.subject in o.spec.model_fields for o in present if o is not t)]
    # Two unrelated subjects: the later type wins, and its schema then names the stray key.
    return meant[-1].subject if meant else None


if TYPE_CHECKING:
    GateRule = Spec
else:
    GateRule = tagged_union(
        [(t.subject, t.spec) for t in RULE_TYPES],
        _subject,
        "rule_kind",
        f"a rule needs one of: {', '.join(t.subject for t in RULE_TYPES)}",
    )
