"""SendGrid's Handlebars helpers (sendgrid-v3 §5), each in block, inline and sub-expression use."""

from __future__ import annotations

from typing import Any

import pytest

from scaisend_core.templating import compile_template


def render(source: str, **data: Any) -> str:
    return compile_template(source)(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [({"a": 1}, "A"), ({"b": "x"}, "B"), ({"c": True}, "C"), ({}, "D")],
)
def test_else_if_chain_picks_the_first_true_branch(data: dict[str, Any], expected: str) -> None:
    source = "{{#if a}}A{{else if b}}B{{else if c}}C{{else}}D{{/if}}"

    assert render(source, **data) == expected


def test_else_if_chain_nests_inside_each() -> None:
    source = "{{#each xs}}{{#if (equals this 1)}}one{{else if (equals this 2)}}two{{else}}n{{/if}},{{/each}}"

    assert render(source, xs=[1, 2, 3]) == "one,two,n,"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "no"), (0, "no"), (0.0, "no"), ([], "no"), (None, "no"), (False, "no"),
     ("0", "yes"), (1, "yes"), ([0], "yes"), ({}, "yes")],
)  # fmt: skip
def test_if_follows_handlebars_truthiness(value: Any, expected: str) -> None:
    assert render("{{#if v}}yes{{else}}no{{/if}}", v=value) == expected


def test_unless_renders_its_else_branch() -> None:
    source = "{{#unless paid}}due{{else}}paid{{/unless}}"

    assert (render(source, paid=False), render(source, paid=True)) == ("due", "paid")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(3, "3", "yes"), ("pro", "pro", "yes"), (1, 2, "no"), ("a", None, "no")],
)
def test_equals_coerces_numbers_and_strings(a: Any, b: Any, expected: str) -> None:
    assert render("{{#equals a b}}yes{{else}}no{{/equals}}", a=a, b=b) == expected


def test_not_equals_is_the_inverse() -> None:
    source = '{{#notEquals plan "free"}}paid{{else}}free{{/notEquals}}'

    assert (render(source, plan="pro"), render(source, plan="free")) == ("paid", "free")


def test_greater_than_and_less_than_compare_numbers() -> None:
    source = "{{#greaterThan a b}}gt{{/greaterThan}}{{#lessThan a b}}lt{{/lessThan}}"

    assert render(source, a=10, b="9") == "gt"
    assert render(source, a=1.5, b=2) == "lt"
    assert render(source, a="x", b=2) == ""


def test_and_or_accept_else() -> None:
    both = "{{#and a b}}both{{else}}not{{/and}}"
    either = "{{#or a b}}one{{else}}none{{/or}}"

    assert [render(both, a=1, b=1), render(both, a=1, b=0)] == ["both", "not"]
    assert [render(either, a=0, b="x"), render(either, a=0, b="")] == ["one", "none"]


def test_length_counts_string_characters_and_array_items() -> None:
    source = "{{length s}}/{{length xs}}/{{length n}}"

    assert render(source, s="héllo", xs=[1, 2, 3], n=7) == "5/3/0"


def test_length_as_a_sub_expression() -> None:
    source = "{{#greaterThan (length cart) 0}}{{length cart}} items{{else}}empty{{/greaterThan}}"

    assert (render(source, cart=["a", "b"]), render(source, cart=[])) == ("2 items", "empty")


def test_comparison_helpers_work_as_sub_expressions_of_if() -> None:
    source = '{{#if (and (equals plan "pro") (lessThan seats 5))}}small pro{{/if}}'

    assert render(source, plan="pro", seats="3") == "small pro"


def test_insert_falls_back_to_its_default() -> None:
    source = '{{insert name "default=Customer"}}'

    assert (render(source, name="Ada"), render(source), render(source, name="")) == (
        "Ada",
        "Customer",
        "Customer",
    )


@pytest.mark.parametrize(
    ("value", "fmt", "offset", "expected"),
    [
        ("2024-03-05T22:07:09Z", "YYYY-MM-DD HH:mm:ss", None, "2024-03-05 22:07:09"),
        ("2024-03-05T22:07:09Z", "MMMM D, YYYY h:mm A", "-0800", "March 5, 2024 2:07 PM"),
        ("2024-03-05T22:07:09Z", "ddd, DD MMM YY hh:mm a ZZ", "+05:30", "Wed, 06 Mar 24 03:37 am +0530"),
        (1709676429, "M/D/YYYY", None, "3/5/2024"),
        (1709676429000, "dddd", None, "Tuesday"),
        ("2024-03-05", "[Day] D", None, "Day 5"),
        ("not a date", "YYYY", None, ""),
    ],
)  # fmt: skip
def test_format_date_tokens_epochs_and_offsets(
    value: Any, fmt: str, offset: str | None, expected: str
) -> None:
    source = "{{formatDate d f o}}" if offset else "{{formatDate d f}}"

    assert render(source, d=value, f=fmt, o=offset) == expected


def test_values_are_html_escaped_unless_triple_stashed() -> None:
    assert render("{{v}}|{{{v}}}", v="<b>&'") == "&lt;b&gt;&amp;&#x27;|<b>&'"


def test_each_exposes_index_first_last_and_root() -> None:
    source = "{{#each xs}}{{@index}}{{#if @first}}^{{/if}}{{name}}{{@root.sep}}{{/each}}"

    assert render(source, xs=[{"name": "a"}, {"name": "b"}], sep=";") == "0^a;1b;"


def test_dotted_paths_and_missing_values() -> None:
    assert render(
        "{{user.profile.first}}-{{user.missing.deep}}-", user={"profile": {"first": "Ada"}}
    ) == ("Ada--")
