"""Handlebars source as tags with line numbers: the structural checks pybars3 skips (unclosed
`{{`, unclosed or mismatched blocks, unknown helpers, partials) and the rewrites it needs
(`{{else if …}}` chains become nested blocks; `{{!-- --}}` comments lose the `}}` pybars trips on).

Rewrites never add or remove a newline, so a line number pybars or a render reports is a line
of the author's source."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from scaisend_core.errors import FieldError, ValidationFailed

# Helpers a template may call; `lookup` and `log` come with pybars3.
BLOCK_HELPERS = {
    "if": 1, "unless": 1, "each": 1, "with": 1,
    "equals": 2, "notEquals": 2, "greaterThan": 2, "lessThan": 2, "and": -2, "or": -2,
}  # fmt: skip
INLINE_HELPERS = frozenset(
    {"formatDate", "insert", "length", "lookup", "log", "equals", "notEquals", "greaterThan",
     "lessThan", "and", "or"}
)  # fmt: skip


class TemplateSyntaxError(ValidationFailed):
    """A template that would not render as written; `line` is 1-based in the author's source."""

    def __init__(self, problem: str, line: int, field_name: str | None = None) -> None:
        where = f" in {field_name}" if field_name else ""
        super().__init__(
            [FieldError(f"Invalid template{where} on line {line}: {problem}", field_name)]
        )
        self.problem = problem
        self.line = line


class Kind(StrEnum):
    COMMENT = "comment"
    OPEN = "open"
    INVERSE_OPEN = "inverse_open"
    CLOSE = "close"
    ELSE = "else"
    ELSE_CHAIN = "else_chain"
    PARTIAL = "partial"
    EXPR = "expr"
    RAW_EXPR = "raw_expr"


@dataclass(frozen=True, slots=True)
class Tag:
    start: int
    end: int
    line: int
    kind: Kind
    name: str = ""
    params: str = ""

    def text(self, source: str) -> str:
        return source[self.start : self.end]


@dataclass(slots=True)
class _Block:
    tag: Tag
    chained: list[str] = field(default_factory=list)
    else_line: int = 0


def scan(source: str) -> list[Tag]:
    """Every `{{…}}` in the source, in order; raises on a `{{` that is never closed."""
    tags: list[Tag] = []
    pos, line = 0, 1
    while (start := source.find("{{", pos)) >= 0:
        line += source.count("\n", pos, start)
        end = _tag_end(source, start, line)
        tags.append(_classify(source, start, end, line))
        line += source.count("\n", start, end)
        pos = end
    return tags


def _tag_end(source: str, start: int, line: int) -> int:
    if source.startswith("{{!--", start):
        close = source.find("--}}", start + 5)
        if close < 0:
            raise TemplateSyntaxError("the comment `{{!--` is never closed with `--}}`", line)
        return close + 4
    if source.startswith("{{!", start):
        close = source.find("}}", start + 3)
        if close < 0:
            raise TemplateSyntaxError("the comment `{{!` is never closed with `}}`", line)
        return close + 2
    if source.startswith("{{{{", start):
        raise TemplateSyntaxError("raw blocks (`{{{{`) are not supported", line)
    closer = "}}}" if source.startswith("{{{", start) else "}}"
    end = _find_closer(source, start + len(closer), closer)
    if end < 0:
        snippet = source[start : start + 30].split("\n", 1)[0]
        raise TemplateSyntaxError(f"`{snippet}` is never closed with `{closer}`", line)
    return end


def _find_closer(source: str, pos: int, closer: str) -> int:
    """Index just past `closer`, skipping quoted strings (a parameter may contain `}}`)."""
    quote = ""
    while pos < len(source):
        char = source[pos]
        if quote:
            if char == "\\":
                pos += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{" and source.startswith("{{", pos):
            return -1  # a new tag starts before this one closed
        elif source.startswith(closer, pos):
            return pos + len(closer)
        pos += 1
    return -1


def _classify(source: str, start: int, end: int, line: int) -> Tag:
    raw = source[start:end]
    if raw.startswith("{{!"):
        return Tag(start, end, line, Kind.COMMENT)
    if raw.startswith("{{{"):
        name, params = _split(raw[3:-3].strip())
        return Tag(start, end, line, Kind.RAW_EXPR, name, params)
    inner = raw[2:-2].strip().removeprefix("~").removesuffix("~").strip()
    sigil = inner[:1]
    if sigil in ("#", "/", "^", ">", "&"):
        name, params = _split(inner[1:].strip())
        kind = {
            "#": Kind.OPEN,
            "/": Kind.CLOSE,
            "^": Kind.INVERSE_OPEN if name else Kind.ELSE,
            ">": Kind.PARTIAL,
            "&": Kind.RAW_EXPR,
        }[sigil]
        return Tag(start, end, line, kind, name, params)
    name, params = _split(inner)
    if name == "else":
        if not params:
            return Tag(start, end, line, Kind.ELSE)
        chain_name, chain_params = _split(params)
        return Tag(start, end, line, Kind.ELSE_CHAIN, chain_name, chain_params)
    return Tag(start, end, line, Kind.EXPR, name, params)


def _split(inner: str) -> tuple[str, str]:
    for index, char in enumerate(inner):
        if char.isspace() or char == "(":
            return inner[:index], inner[index:].strip()
    return inner, ""


def check(tags: list[Tag]) -> None:
    """Blocks open and close in order; helpers exist and get the arguments they need."""
    stack: list[_Block] = []
    for tag in tags:
        if tag.kind == Kind.PARTIAL:
            raise TemplateSyntaxError("partials (`{{> name}}`) are not supported", tag.line)
        if tag.kind in (Kind.OPEN, Kind.INVERSE_OPEN):
            _check_block_helper(tag.name, tag.params, tag.line)
            stack.append(_Block(tag))
        elif tag.kind in (Kind.ELSE, Kind.ELSE_CHAIN):
            _check_else(stack, tag)
        elif tag.kind == Kind.CLOSE:
            _check_close(stack, tag)
        elif tag.kind in (Kind.EXPR, Kind.RAW_EXPR):
            _check_inline(tag)
    if stack:
        opened = stack[-1].tag
        raise TemplateSyntaxError(f"`{{{{#{opened.name}}}}}` is never closed", opened.line)


def _check_else(stack: list[_Block], tag: Tag) -> None:
    if not stack:
        raise TemplateSyntaxError("`{{else}}` outside of a block", tag.line)
    block = stack[-1]
    if block.else_line:
        raise TemplateSyntaxError(
            f"`{{{{#{block.tag.name}}}}}` opened on line {block.tag.line} already has an "
            f"`{{{{else}}}}` on line {block.else_line}",
            tag.line,
        )
    if tag.kind == Kind.ELSE_CHAIN:
        _check_block_helper(tag.name, tag.params, tag.line, chained=True)
    else:
        block.else_line = tag.line  # a chain opens a nested block, which may have its own else


def _check_close(stack: list[_Block], tag: Tag) -> None:
    if not stack:
        raise TemplateSyntaxError(f"`{{{{/{tag.name}}}}}` closes no open block", tag.line)
    opened = stack.pop().tag
    if opened.name != tag.name:
        raise TemplateSyntaxError(
            f"`{{{{/{tag.name}}}}}` closes `{{{{#{opened.name}}}}}` opened on line {opened.line}",
            tag.line,
        )


def _check_block_helper(name: str, params: str, line: int, chained: bool = False) -> None:
    if not name:
        raise TemplateSyntaxError("a block needs a name, as in `{{#if value}}`", line)
    arity = BLOCK_HELPERS.get(name)
    shown = f"{{{{else {name}}}}}" if chained else f"{{{{#{name}}}}}"
    if arity is None:
        if params or chained:
            raise TemplateSyntaxError(f"unknown block helper `{name}`", line)
        return  # `{{#section}}…{{/section}}`: Mustache sections over a value
    count = len(_top_level_params(params))
    if (arity > 0 and count != arity) or (arity < 0 and count < -arity):
        need = f"{arity}" if arity > 0 else f"at least {-arity}"
        noun = "value" if arity == 1 else "values"
        raise TemplateSyntaxError(f"`{shown}` needs {need} {noun}, got {count}", line)
    _check_subexpressions(params, line)


def _check_inline(tag: Tag) -> None:
    if tag.params and tag.name not in INLINE_HELPERS:
        raise TemplateSyntaxError(f"unknown helper `{tag.name}`", tag.line)
    _check_subexpressions(tag.params, tag.line)


def _check_subexpressions(params: str, line: int) -> None:
    depth = 0
    for index, paren in _param_tokens(params):
        if paren == "(":
            name, _ = _split(params[index + 1 :].lstrip())
            if name not in INLINE_HELPERS:
                raise TemplateSyntaxError(f"unknown helper `{name}` in a sub-expression", line)
            depth += 1
        elif paren == ")":
            depth -= 1
            if depth < 0:
                raise TemplateSyntaxError("`)` without a matching `(`", line)
    if depth:
        raise TemplateSyntaxError("a sub-expression `(` is never closed", line)


def _param_tokens(params: str) -> list[tuple[int, str]]:
    """Parentheses outside quoted strings, with their positions."""
    found: list[tuple[int, str]] = []
    quote = ""
    for index, char in enumerate(params):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "()":
            found.append((index, char))
    return found


def _top_level_params(params: str) -> list[str]:
    """Positional parameters at depth 0 (hash arguments `key=value` are not counted)."""
    items: list[str] = []
    current, depth, quote = "", 0, ""
    for char in params + " ":
        if quote:
            current += char
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote, current = char, current + char
        elif char == "(":
            depth, current = depth + 1, current + char
        elif char == ")":
            depth, current = depth - 1, current + char
        elif char.isspace() and depth == 0:
            if current and "=" not in current.split("(", 1)[0]:
                items.append(current)
            current = ""
        else:
            current += char
    return items


def rewrite(source: str, tags: list[Tag]) -> str:
    """What pybars3 can compile: else-chains nested, long comments emptied, lines preserved."""
    out: list[str] = []
    stack: list[_Block] = []
    pos = 0
    for tag in tags:
        out.append(source[pos : tag.start])
        out.append(_rewritten(source, tag, stack))
        pos = tag.end
    out.append(source[pos:])
    return "".join(out)


def _rewritten(source: str, tag: Tag, stack: list[_Block]) -> str:
    raw = tag.text(source)
    if tag.kind == Kind.COMMENT:
        return "{{!" + "\n" * raw.count("\n") + "}}"
    if tag.kind in (Kind.OPEN, Kind.INVERSE_OPEN):
        stack.append(_Block(tag))
    elif tag.kind == Kind.ELSE_CHAIN and stack:
        stack[-1].chained.append(tag.name)
        left = "{{~" if raw.startswith("{{~") else "{{"
        right = "~}}" if raw.endswith("~}}") else "}}"
        return f"{left}else}}}}{{{{#{tag.name} {tag.params}{right}"
    elif tag.kind == Kind.CLOSE and stack:
        block = stack.pop()
        return "".join(f"{{{{/{name}}}}}" for name in reversed(block.chained)) + raw
    return raw
