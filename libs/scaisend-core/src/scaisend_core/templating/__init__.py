"""The Handlebars engine both the API (validation at save time) and the worker (rendering) use."""

from scaisend_core.templating.engine import (
    Renderer,
    TemplateCache,
    TemplateRenderError,
    compile_template,
    validate,
)
from scaisend_core.templating.helpers import HELPERS, truthy
from scaisend_core.templating.syntax import TemplateSyntaxError

__all__ = [
    "HELPERS",
    "Renderer",
    "TemplateCache",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "compile_template",
    "truthy",
    "validate",
]
