"""Jinja2's immutable sandbox, tightened for policy expressions and message templates.

Jinja's sandbox stops attribute escapes but not resource bombs: a spec is written by whoever
opens a pull request, and the preview job that evaluates it holds registry secrets. So on top
of the sandbox, every way to build something big is bounded before it is built (repetition,
`+`, `~`, `%`, `.format` widths, padding methods, `join`, `replace`, `sum`), every call's result
is size-checked, filters are an allowlist, a message's output is capped, and each expression or
template gets a time budget enforced by a tracer on the template's own frames (nested loops of
capped ranges are small to write and astronomically long to run). Dunder and private names are
refused up front, and every undefined name is an error rather than a quiet `None`.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_environment
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

MAX_SEQUENCE = 10_000  # items in a range or a repetition
MAX_TEXT = 100_000  # characters in any string (or items in any list) an expression builds
MAX_MESSAGE = 4_000  # characters of a rendered message
MAX_EXPONENT = 64
MAX_NUMBER = 10**18
MAX_SOURCE = 20_000  # characters of an expression or template
BUDGET_SECONDS = 1.0  # running time of one expression or one message

# What an expression may read; anything else is an unknown name.
CONTEXT_NAMES = ("model", "dataset", "environment", "gates", "action", "candidate", "current", "change")
PLAN_NAMES = frozenset({"action", "candidate", "current", "change"})

# Filters whose work is bounded by their input; the rest (center, indent, format, wordwrap,
# batch, random, urlize, xmlattr...) are unknown filters in a policy.
SAFE_FILTERS = (
    *("abs", "capitalize", "count", "default", "d", "dictsort", "first", "float", "groupby", "int"),
    *("items", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr"),
    *("reverse", "round", "select", "selectattr", "sort", "string", "title", "trim", "truncate"),
    *("unique", "upper", "wordcount"),
)

_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class BudgetExceeded(SecurityError):
    pass


def _too_big(what: str, size: int) -> SecurityError:
    return SecurityError(f"{what} of {size} items is too large for a policy expression")


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict, set, frozenset)) and len(value) > MAX_TEXT:
        raise _too_big("a value", len(value))
    return value


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_SEQUENCE:
        raise SecurityError(f"Range too big: {len(rng)} items (a policy may iterate at most {MAX_SEQUENCE})")
    return rng


def _bounded_join(environment: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = [str(v) for v in value] if attribute is None else [str(environment.getitem(v, attribute)) for v in value]
    size = sum(map(len, items)) + len(d) * max(len(items) - 1, 0)
    if size > MAX_TEXT:
        raise _too_big("a join", size)
    return d.join(items)


def _bounded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    hits = text.count(old) if count is None or count < 0 else min(count, text.count(old))
    if len(text) + hits * len(new) > MAX_TEXT:
        raise _too_big("a replacement", len(text) + hits * len(new))
    return text.replace(old, new) if count is None else text.replace(old, new, count)


def _bounded_sum(environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    total = start
    for item in iterable:
        if attribute is not None:
            item = environment.getitem(item, attribute)
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            raise SecurityError("sum adds numbers only in a policy expression")
        total += item
    return total


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a str method call whose result would be too big, before it is built.

    Returns the arguments to call with: an iterator given to `join` is read once, here.
    """
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(obj, "__name__", "")
    if name in _PADDING and args and isinstance(args[0], int) and args[0] > MAX_TEXT:
        raise _too_big(f"'{name}' to a width", args[0])
    if name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int) and tab * (owner.count("\t") + 1) + len(owner) > MAX_TEXT:
            raise _too_big("'expandtabs'", tab * owner.count("\t"))
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _bounded_replace(owner, args[0], args[1])
    if name == "join" and args:
        items = list(args[0])
        _bounded_join(None, items, owner)
        return (items, *args[1:])
    return args


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` with widths and total output bounded (Jinja's sandboxed field lookup kept)."""

    def __init__(self, env: PolicySandbox) -> None:
        super().__init__(env)
        self._total = 0

    def format_field(self, value: Any, format_spec: str) -> str:
        for digits in _DIGITS.findall(format_spec):
            if len(digits) > 6 or int(digits) > MAX_TEXT:
                raise _too_big("a format width", int(digits[:18]))
        out: str = super().format_field(value, format_spec)
        self._total += len(out)
        if self._total > MAX_TEXT:
            raise _too_big("a formatted string", self._total)
        return out


class _BoundedCodeGenerator(CodeGenerator):
    """`a ~ b` compiles to a join Jinja's sandbox does not intercept; route it through a bound."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class PolicySandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals = {"range": _bounded_range}
        filters = {name: self.filters[name] for name in SAFE_FILTERS}
        filters["join"] = pass_environment(_bounded_join)
        filters["replace"] = _bounded_replace
        filters["sum"] = pass_environment(_bounded_sum)
        self.filters = filters

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if not isinstance(right, (int, float)) or abs(right) > MAX_EXPONENT or abs(left) > MAX_NUMBER:
                raise SecurityError(f"'{left} ** {right}' is too large for a policy expression")
            return left**right
        if operator == "+":
            sized = isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple))
            if sized and len(left) + len(right) > MAX_TEXT:
                raise _too_big("a concatenation", len(left) + len(right))
            return left + right
        if operator == "%":
            if isinstance(left, str):
                for spec in _PERCENT_SPEC.finditer(left):
                    for part in spec.groups():
                        if part == "*" or (part and (len(part) > 6 or int(part) > MAX_TEXT)):
                            raise SecurityError(f"the format '{spec.group(0)}' is too wide for a policy expression")
                return _check_size(left % right)
            return left % right
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
                raise SecurityError(f"a repetition of {len(seq) * times} items is too large for a policy expression")
        return left * right

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = _check_call(__obj, args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", "") not in ("format", "format_map") or not isinstance(
            getattr(value, "__self__", None), str
        ):
            return None
        text: str = value.__self__
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return _BoundedFormatter(self).vformat(text, (), args[0])
            return _BoundedFormatter(self).vformat(text, args, kwargs)

        return bounded

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(p) for p in parts]
        size = sum(map(len, texts))
        if size > MAX_TEXT:
            raise _too_big("a '~' concatenation", size)
        return "".join(texts)

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


def _parse(source: str, what: str) -> nodes.Template:
    if len(source) > MAX_SOURCE:
        raise PolicySyntaxError(f"{what} is {len(source)} characters long; the limit is {MAX_SOURCE}")
    env = sandbox()
    try:
        tree = env.parse(source)
        _refuse_private(tree)
        # Compiling too catches what only the compiler rejects (unknown filters) and what nests
        # too deeply for it, at validate instead of at apply. The compiler folds constants in
        # place, so it gets a tree of its own.
        env.compile(env.parse(source))
    except TemplateSyntaxError as exc:
        raise PolicySyntaxError(f"invalid {what}: {exc.message}", exc.lineno or 1) from exc
    except (RecursionError, MemoryError, SyntaxError) as exc:
        # A SyntaxError here is Python's own limit on the generated code (indentation depth).
        raise PolicySyntaxError(f"{what} is nested too deeply to check") from exc
    return tree


@lru_cache(maxsize=256)
def compile_expression(expression: str) -> Compiled:
    """Parse and check an expression without running it."""
    tree = _parse("{{ (" + expression + ") }}", "expression")
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    constants = {"true", "false", "none", "True", "False", "None"}
    unknown = sorted(names - set(CONTEXT_NAMES) - set(sandbox().globals) - constants)
    if unknown:
        raise PolicySyntaxError(f"unknown name '{unknown[0]}' (a policy can read: {', '.join(CONTEXT_NAMES)})")
    return Compiled(expression, frozenset(names & set(CONTEXT_NAMES)))


def check_template(template: str) -> None:
    """A message template gets the same static checks as an expression."""
    _parse(template, "message template")


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


class _Deadline:
    """Stop sandboxed code that runs past its budget.

    A trace function sees every line of the compiled template's own frames (their code objects
    are named after the template), so the check costs nothing outside them and a loop that
    spins inside them is stopped within one line of the deadline.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = 0.0
        self.previous: Any = None

    def __enter__(self) -> _Deadline:
        self.deadline = time.monotonic() + self.seconds
        self.previous = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self.previous)

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == "<template>":
            return self._local
        return None

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"ran longer than its budget of {self.seconds:g} s")
        return self._local


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """Run an expression; any error (unsafe access, undefined name, a raise, the budget) propagates."""
    function = _compiled_function(expression)
    with _Deadline(BUDGET_SECONDS):
        return function(**context)


@lru_cache(maxsize=256)
def _compiled_function(expression: str) -> Any:
    return sandbox().compile_expression(expression, undefined_to_none=False)


def render_message(template: str, context: dict[str, Any]) -> str:
    try:
        return _render_bounded(template, context)
    except Exception as exc:  # a broken message must not hide the violation it describes
        return f"{template[:200]} (message could not be rendered: {type(exc).__name__}: {str(exc)[:200]})"


def _render_bounded(template: str, context: dict[str, Any]) -> str:
    compiled = sandbox().from_string(template)
    out: list[str] = []
    size = 0
    with _Deadline(BUDGET_SECONDS):
        chunks: Iterator[str] = compiled.generate(**context)
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_MESSAGE:
                out.append(chunk[: max(0, MAX_MESSAGE - (size - len(chunk)))])
                out.append(f"... (message cut at {MAX_MESSAGE} characters)")
                break
            out.append(chunk)
    return "".join(out)
