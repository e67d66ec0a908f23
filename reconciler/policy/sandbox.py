"""Jinja2's immutable sandbox, tightened for policy expressions.

The sandbox already refuses unsafe attributes and huge ranges; on top of it: no globals but a
bounded `range`, dunder and private names refused up front (with a message, not a silent
undefined), repetition and exponentiation bounded so that `'a' * 10**9` cannot eat memory,
and every undefined name is an error rather than a quiet `None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SEQUENCE = 10_000
MAX_EXPONENT = 64
MAX_NUMBER = 10**18

# What an expression may read; anything else is an unknown name.
CONTEXT_NAMES = ("model", "dataset", "environment", "gates", "action", "candidate", "current", "change")
PLAN_NAMES = frozenset({"action", "candidate", "current", "change"})


class PolicySandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals = {"range": self.globals["range"]}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if not isinstance(right, (int, float)) or abs(right) > MAX_EXPONENT or abs(left) > MAX_NUMBER:
                raise SecurityError(f"'{left} ** {right}' is too large for a policy expression")
            return left**right
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
                raise SecurityError(f"a repetition of {len(seq) * times} items is too large for a policy expression")
        return left * right

    def unsafe_undefined(self, obj: Any, attribute: Any) -> Any:
        raise SecurityError(f"access to '{attribute}' is not allowed in a policy expression")


@lru_cache(maxsize=1)
def sandbox() -> PolicySandbox:
    return PolicySandbox()


@dataclass(frozen=True)
class Compiled:
    expression: str
    names: frozenset[str]  # context names the expression reads

    @property
    def stage(self) -> str:
        """spec: judged from the specs alone (validate); plan: needs the action or the change."""
        return "plan" if self.names & PLAN_NAMES else "spec"


class PolicySyntaxError(ValueError):
    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


def compile_expression(expression: str) -> Compiled:
    """Parse and check an expression without running it."""
    env = sandbox()
    try:
        tree = env.parse("{{ (" + expression + ") }}")
    except TemplateSyntaxError as exc:
        raise PolicySyntaxError(f"invalid expression: {exc.message}", exc.lineno or 1) from exc
    _refuse_private(tree)
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    unknown = sorted(names - set(CONTEXT_NAMES) - set(env.globals) - {"true", "false", "none", "True", "False", "None"})
    if unknown:
        raise PolicySyntaxError(f"unknown name '{unknown[0]}' (a policy can read: {', '.join(CONTEXT_NAMES)})")
    return Compiled(expression, frozenset(names & set(CONTEXT_NAMES)))


def check_template(template: str) -> None:
    """A message template gets the same static checks as an expression."""
    env = sandbox()
    try:
        tree = env.parse(template)
    except TemplateSyntaxError as exc:
        raise PolicySyntaxError(f"invalid message template: {exc.message}", exc.lineno or 1) from exc
    _refuse_private(tree)


def _refuse_private(tree: nodes.Template) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            name = node.arg.value
        elif isinstance(node, nodes.Name):
            name = node.name
        if name is not None and name.startswith("_"):
            raise PolicySyntaxError(f"access to '{name}' is not allowed in a policy expression", node.lineno)


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """Run an expression; any error (unsafe access, undefined name, a raise) propagates."""
    function = sandbox().compile_expression(expression, undefined_to_none=False)
    return function(**context)


def render_message(template: str, context: dict[str, Any]) -> str:
    try:
        return str(sandbox().from_string(template).render(**context))
    except Exception as exc:  # a broken message must not hide the violation it describes
        return f"{template} (message could not be rendered: {exc})"
