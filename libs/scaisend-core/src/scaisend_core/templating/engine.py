"""Compile and render Handlebars with pybars3: save-time validation that names the line, and a
per-version LRU of compiled templates.

pybars3's `compile()` registers a module in `sys.modules` that is never freed; this engine execs
the generated code into a private namespace instead, so an evicted template is garbage."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from pybars import Compiler, PybarsError

from scaisend_core.errors import ScaiSendError
from scaisend_core.templating.helpers import HELPERS
from scaisend_core.templating.syntax import Kind, Tag, TemplateSyntaxError, check, rewrite, scan

Renderer = Callable[[Mapping[str, Any]], str]
DEFAULT_CACHE_SIZE = 512


class TemplateRenderError(ScaiSendError):
    """Rendering failed at send time (bad data for a helper, a missing helper at runtime)."""


def prepare(source: str, field_name: str | None = None) -> str:
    """Validate a template and return the source pybars3 should compile."""
    try:
        tags = scan(source)
        check(tags)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxError(exc.problem, exc.line, field_name) from None
    return rewrite(source, tags)


def validate(source: str, field_name: str | None = None) -> None:
    """Raise TemplateSyntaxError (a 400 through the API) if the template would not compile."""
    _generate(source, field_name)


def compile_template(source: str, field_name: str | None = None) -> Renderer:
    code = _generate(source, field_name)
    namespace: dict[str, Any] = {"__name__": "scaisend_template"}
    exec(compile(code, "<handlebars>", "exec"), namespace)  # noqa: S102 - pybars3's own output
    render: Callable[..., Any] = namespace["render"]

    def renderer(data: Mapping[str, Any]) -> str:
        try:
            return str(render(data, helpers=HELPERS))
        except (PybarsError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise TemplateRenderError(f"template rendering failed: {exc}") from exc
        except RecursionError as exc:
            raise TemplateRenderError("template rendering failed: nesting too deep") from exc

    return renderer


def _generate(source: str, field_name: str | None) -> str:
    prepared = prepare(source, field_name)
    try:
        return str(Compiler().precompile(prepared))
    except PybarsError as exc:
        line, problem = _locate(source, str(exc))
        raise TemplateSyntaxError(problem, line, field_name) from None


def _locate(source: str, message: str) -> tuple[int, str]:
    """pybars3 reports the last line of the file; find the tag it actually choked on."""
    for tag in scan(source):
        probe = _probe(source, tag)
        if probe is None:
            continue
        try:
            Compiler().precompile(probe)
        except PybarsError:
            return tag.line, f"cannot parse `{tag.text(source)}`"
    return 1, message


def _probe(source: str, tag: Tag) -> str | None:
    """The tag as a stand-alone expression pybars3 can parse on its own."""
    if tag.kind in (Kind.OPEN, Kind.INVERSE_OPEN, Kind.ELSE_CHAIN):
        return "{{" + f"{tag.name} {tag.params}".strip() + "}}"
    if tag.kind in (Kind.EXPR, Kind.RAW_EXPR):
        return tag.text(source)
    return None


class TemplateCache:
    """Compiled templates by key (template version id, its update time, which field), LRU."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self._entries: OrderedDict[Hashable, Renderer] = OrderedDict()
        self._max = max_entries
        self.compiles = 0

    def get(self, key: Hashable, source: str) -> Renderer:
        renderer = self._entries.get(key)
        if renderer is not None:
            self._entries.move_to_end(key)
            return renderer
        renderer = compile_template(source)
        self.compiles += 1
        self._entries[key] = renderer
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return renderer

    def render(self, key: Hashable, source: str, data: Mapping[str, Any]) -> str:
        try:
            renderer = self.get(key, source)
        except TemplateSyntaxError as exc:  # saved before validation existed, or edited in SQL
            raise TemplateRenderError(exc.message) from exc
        return renderer(data)

    def __len__(self) -> int:
        return len(self._entries)
