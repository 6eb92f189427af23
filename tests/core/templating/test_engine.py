"""Save-time validation that names the line, and the compiled-template cache."""

from __future__ import annotations

import sys

import pytest

from scaisend_core.templating import (
    TemplateCache,
    TemplateRenderError,
    TemplateSyntaxError,
    compile_template,
    validate,
)


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("<p>\n{{#if vip}}\nVIP\n</p>", 2, "`{{#if}}` is never closed"),
        ("a\nb {{name", 2, "`{{name` is never closed"),
        ("{{#each xs}}\n\n{{/if}}", 3, "closes `{{#each}}` opened on line 1"),
        ("x\n{{/if}}", 2, "closes no open block"),
        ("{{else}}", 1, "outside of a block"),
        ("\n{{> footer}}", 2, "partials"),
        ("{{#if}}x{{/if}}", 1, "needs 1 value"),
        ("{{#equals a}}x{{/equals}}", 1, "needs 2 values"),
        ("\n\n{{#shout a}}x{{/shout}}", 3, "unknown block helper `shout`"),
        ("{{shout a}}", 1, "unknown helper `shout`"),
        ("{{#if (shout a)}}x{{/if}}", 1, "unknown helper `shout` in a sub-expression"),
        ("{{#if a}}\n{{else}}\n{{else}}{{/if}}", 3, "already has an `{{else}}` on line 2"),
        ("{{!-- note", 1, "never closed with `--}}`"),
        ("ok\n{{lookup a b c=}}", 2, "cannot parse"),
    ],
)
def test_syntax_errors_name_the_line(source: str, line: int, fragment: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        validate(source, "html_content")

    assert caught.value.line == line
    assert fragment in caught.value.message
    assert caught.value.errors[0].field == "html_content"


def test_line_numbers_count_from_the_authors_source_after_else_if_rewrites() -> None:
    source = "{{#if a}}1{{else if b}}2{{/if}}\n{{!-- {{x}}\n--}}\n{{#each xs}}"

    with pytest.raises(TemplateSyntaxError) as caught:
        validate(source)

    assert caught.value.line == 4


def test_comments_containing_mustaches_render_nothing() -> None:
    assert compile_template("a{{!-- {{b}} }} --}}c{{! d }}e")({}) == "ace"


def test_a_mustache_section_over_a_value_is_not_a_helper_error() -> None:
    assert compile_template("{{#user}}{{name}}{{/user}}")({"user": {"name": "Ada"}}) == "Ada"


def test_data_the_template_cannot_walk_is_a_render_error() -> None:
    renderer = compile_template("{{items.name}}")  # a path into a list needs an index

    with pytest.raises(TemplateRenderError):
        renderer({"items": [{"name": "a"}]})


def test_cache_compiles_each_key_once_and_evicts_the_least_recent() -> None:
    cache = TemplateCache(max_entries=2)

    for _ in range(3):
        cache.render(("v1", "html"), "{{a}}", {"a": 1})
    cache.render(("v2", "html"), "{{b}}", {"b": 2})
    cache.render(("v1", "html"), "{{a}}", {"a": 1})  # v1 is now the most recent
    cache.render(("v3", "html"), "{{c}}", {"c": 3})  # evicts v2
    cache.render(("v2", "html"), "{{b}}", {"b": 2})  # compiled again

    assert cache.compiles == 4
    assert len(cache) == 2


def test_compiling_registers_no_module() -> None:
    before = len(sys.modules)

    for index in range(20):
        compile_template(f"{{{{x}}}} {index}")

    assert len(sys.modules) == before


def test_a_template_saved_without_validation_fails_to_render_not_to_compile_silently() -> None:
    cache = TemplateCache()

    with pytest.raises(TemplateRenderError, match="never closed"):
        cache.render("k", "{{#if a}}x", {"a": 1})
