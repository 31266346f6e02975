"""Tests for workflows.forms: MIP-003 fields, checks, visibility, input_schema and its hash."""

from __future__ import annotations

import hashlib
import json
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from durasumi.workflows.forms import (
    Field,
    FieldData,
    FieldError,
    FieldType,
    Form,
    FormCheck,
    FormValidationError,
    Group,
    ShowWhen,
    Validation,
)

# -- helpers ---------------------------------------------------------------------------------


def one(field: Field) -> Form:
    return Form(id="f", title="F", fields=[field])


def ok(field: Field, raw: Any) -> Any:
    result = one(field).check({field.id: raw})
    assert result.ok, result.errors
    return result.values[field.id]


def codes(form: Form, values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in form.check(values).errors]


def bad(field: Field, raw: Any) -> list[str]:
    return [e.code for e in one(field).check({field.id: raw}).errors]


# -- field types -----------------------------------------------------------------------------


def test_field_types_are_exactly_mip003() -> None:
    assert {t.value for t in FieldType} == {
        "text",
        "string",
        "textarea",
        "number",
        "boolean",
        "option",
        "none",
        "email",
        "password",
        "tel",
        "url",
        "date",
        "datetime-local",
        "time",
        "month",
        "week",
        "color",
        "range",
        "file",
        "hidden",
        "search",
        "checkbox",
        "radio",
    }


@pytest.mark.parametrize("type_", ["text", "string", "textarea", "password", "search"])
def test_text_like_accepts_strings_only(type_: str) -> None:
    field = Field.of(type_, "t", "T")
    assert ok(field, "hello") == "hello"
    assert ok(field, " spaced ") == " spaced "
    for raw in (5, 2.5, True, ["a"], {"a": 1}):
        assert bad(field, raw) == ["type"]


def test_string_alias_behaves_like_text() -> None:
    field = Field.of(FieldType.STRING, "s", "S", min=2)
    assert field.model_dump()["type"] == "string"
    assert bad(field, "a") == ["min"]


def test_text_length_bounds_are_inclusive() -> None:
    field = Field.text("name", "Name", min=2, max=4)
    assert ok(field, "ab") == "ab"
    assert ok(field, "abcd") == "abcd"
    assert bad(field, "a") == ["min"]
    assert bad(field, "abcde") == ["max"]
    assert ok(Field.textarea("t", "T", max=3), "é\nü") == "é\nü"


def test_password_min_length() -> None:
    assert bad(Field.password("pw", "Password", min=8), "short") == ["min"]
    assert ok(Field.password("pw", "Password", min=8), "long enough") == "long enough"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3),
        ("3", 3),
        (" 7 ", 7),
        ("-2", -2),
        (2.5, 2.5),
        ("2.5", 2.5),
        (4.0, 4),
        ("4.0", 4),
        ("1e3", 1000),
        (".5", 0.5),
        (0, 0),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_number_coercion(raw: Any, expected: Any) -> None:
    value = ok(Field.number("n", "N"), raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        "abc",
        "1_000",
        "0x10",
        "1,5",
        float("nan"),
        float("inf"),
        "inf",
        ["1"],
        {"n": 1},
    ],
)
def test_number_rejections(raw: Any) -> None:
    assert bad(Field.number("n", "N"), raw) == ["type"]


def test_number_bounds_and_integer_format() -> None:
    field = Field.number("seats", "Seats", min=1, max=10, integer=True)
    assert ok(field, 1) == 1
    assert ok(field, "10") == 10
    assert bad(field, 0) == ["min"]
    assert bad(field, "11") == ["max"]
    assert bad(field, 2.5) == ["format"]
    assert bad(Field.number("x", "X", min=0.5), 0.25) == ["min"]
    assert ok(Field.number("x", "X", min=-1.5, max=1.5), "-1.5") == -1.5


def test_range_enforces_data_bounds() -> None:
    field = Field.range("level", "Level", min=1, max=10, step=1, default=5)
    assert field.model_dump()["data"] == {"default": 5, "min": "1", "max": "10", "step": "1"}
    assert ok(field, "5") == 5
    assert bad(field, 0) == ["min"]
    assert bad(field, 11) == ["max"]
    assert bad(field, True) == ["type"]


@pytest.mark.parametrize("type_", ["boolean", "checkbox"])
def test_boolean_coercion(type_: str) -> None:
    field = Field.of(type_, "b", "B")
    for given, expected in ((True, True), (False, False), ("true", True), ("FALSE", False)):
        assert ok(field, given) is expected
    for wrong in (1, 0, "yes", "1"):
        assert bad(field, wrong) == ["type"]
    for missing in ("", None):
        assert bad(field, missing) == ["required"]


def test_required_boolean_accepts_false() -> None:
    assert ok(Field.boolean("agree", "Agree"), False) is False


def test_option_single_select() -> None:
    field = Field.option("plan", "Plan", ["basic", "pro"])
    assert ok(field, "pro") == "pro"
    assert ok(field, ["pro"]) == ["pro"]
    assert bad(field, "enterprise") == ["choice"]
    assert bad(field, ["basic", "pro"]) == ["max"]
    assert bad(field, 3) == ["type"]
    assert bad(field, [1]) == ["type"]
    assert bad(field, []) == ["required"]


def test_option_multi_select_counts() -> None:
    field = Field.option("c", "Countries", ["DE", "FR", "IT", "ES"], multiple=True, min=2, max=3)
    assert ok(field, ["DE", "FR"]) == ["DE", "FR"]
    assert ok(field, ["DE", "FR", "IT"]) == ["DE", "FR", "IT"]
    assert bad(field, "DE") == ["min"]
    assert bad(field, ["DE", "FR", "IT", "ES"]) == ["max"]
    assert bad(field, ["DE", "DE"]) == ["choice"]
    assert bad(field, ["DE", "XX"]) == ["choice"]
    unbounded = Field.option("c", "C", ["a", "b"], multiple=True)
    assert unbounded.validations == []
    assert ok(unbounded, ["a", "b"]) == ["a", "b"]


def test_radio_is_single_choice() -> None:
    field = Field.radio("pay", "Payment", ["card", "paypal"])
    assert ok(field, "card") == "card"
    assert bad(field, ["card"]) == ["type"]
    assert bad(field, "cash") == ["choice"]


def test_date() -> None:
    field = Field.date("d", "Date", min="2024-01-01", max="2024-12-31")
    assert ok(field, "2024-02-29") == "2024-02-29"
    assert ok(field, "2024-01-01") == "2024-01-01"
    assert ok(field, "2024-12-31") == "2024-12-31"
    assert bad(field, "2023-12-31") == ["min"]
    assert bad(field, "2025-01-01") == ["max"]
    for raw in ("2023-02-29", "20240101", "2024-1-1", "2024-01-01T00:00", "soon"):
        assert bad(field, raw) == ["format"]
    assert bad(field, 20240101) == ["type"]


def test_datetime_local() -> None:
    field = Field.of("datetime-local", "at", "At", min="2024-05-01T09:00", max="2024-05-01T17:00")
    assert ok(field, "2024-05-01T10:30") == "2024-05-01T10:30"
    assert ok(field, "2024-05-01T17:00:00") == "2024-05-01T17:00:00"
    assert bad(field, "2024-05-01T08:59") == ["min"]
    assert bad(field, "2024-05-01T17:00:01") == ["max"]
    assert bad(field, "2024-05-01 10:30") == ["format"]
    assert bad(field, "2024-05-01T10:30+02:00") == ["format"]


def test_time() -> None:
    field = Field.time("t", "T", min="09:00", max="17:00")
    assert ok(field, "09:00") == "09:00"
    assert ok(field, "12:30:15") == "12:30:15"
    assert bad(field, "08:59") == ["min"]
    assert bad(field, "17:01") == ["max"]
    for raw in ("9:00", "24:00", "12:60", "noon"):
        assert bad(field, raw) == ["format"]


def test_month() -> None:
    field = Field.of("month", "m", "M", min="2024-02", max="2025-01")
    assert ok(field, "2024-12") == "2024-12"
    assert bad(field, "2024-01") == ["min"]
    assert bad(field, "2025-02") == ["max"]
    assert bad(field, "2024-13") == ["format"]
    assert bad(field, "2024-00") == ["format"]


def test_week() -> None:
    field = Field.of("week", "w", "W", min="2020-W10")
    assert ok(field, "2020-W53") == "2020-W53"  # 2020 has 53 ISO weeks
    assert bad(field, "2021-W53") == ["format"]
    assert bad(field, "2024-W00") == ["format"]
    assert bad(field, "2020-W09") == ["min"]
    assert bad(field, "2020W10") == ["format"]


def test_color() -> None:
    field = Field.of("color", "c", "Colour")
    assert ok(field, "#A1b2C3") == "#a1b2c3"
    for raw in ("red", "#abc", "a1b2c3", "#a1b2c3ff"):
        assert bad(field, raw) == ["format"]
    assert bad(field, 0xA1B2C3) == ["type"]


def test_email() -> None:
    field = Field.email("mail", "Mail")
    assert ok(field, "ada@example.com") == "ada@example.com"
    assert ok(field, "a.b+c@sub.example.co") == "a.b+c@sub.example.co"
    for raw in ("ada", "ada@", "ada@example", "a b@example.com", "@example.com", "a@b@c.de"):
        assert bad(field, raw) == ["format"]


def test_url() -> None:
    field = Field.url("site", "Site")
    for raw in (
        "https://example.com",
        "http://localhost:8080/x?y=1#z",
        "HTTPS://Example.org/a/b.pdf",
    ):
        assert ok(field, raw) == raw
    for raw in (
        "example.com",
        "ftp://example.com",
        "https://",
        "https://exa mple.com",
        "https://example.com/a b",
    ):
        assert bad(field, raw) == ["format"]


def test_tel() -> None:
    field = Field.tel("phone", "Phone")
    for raw in ("+49 30 1234567", "(030) 123-456", "+1-234-567-8900"):
        assert ok(field, raw) == raw
    for raw in ("call me", "+", "12", "+49 30 12a"):
        assert bad(field, raw) == ["format"]


@pytest.mark.parametrize(
    ("fmt", "good", "wrong"),
    [
        ("email", "a@b.co", "nope"),
        ("url", "https://x.org", "x.org"),
        ("nonempty", "x", "   "),
        ("integer", "-42", "4.2"),
        ("tel-pattern", "+44 20 7946 0000", "phone"),
    ],
)
def test_format_validations_on_text(fmt: str, good: str, wrong: str) -> None:
    field = Field.text("t", "T", format=fmt)
    assert ok(field, good) == good
    assert bad(field, wrong) == ["format"]


def test_file_urls_and_counts() -> None:
    field = Field.file("doc", "Document", accept=".pdf", min=1, max=2)
    assert field.model_dump()["data"] == {"outputFormat": "url"}
    assert ok(field, "https://files.example/a.pdf") == "https://files.example/a.pdf"
    two = ["https://f.example/a.pdf", "https://f.example/b.pdf"]
    assert ok(field, two) == two
    assert bad(field, [*two, "https://f.example/c.pdf"]) == ["max"]
    assert bad(field, "a.pdf") == ["format"]
    assert bad(field, 5) == ["type"]
    assert bad(field, [""]) == ["type"]


def test_hidden_fixed_value() -> None:
    form = one(Field.hidden("session", "Session", "abc123"))
    assert form.check({}).values == {"session": "abc123"}
    assert form.check({"session": "abc123"}).values == {"session": "abc123"}
    assert codes(form, {"session": "other"}) == [("session", "choice")]


def test_none_field_is_display_only() -> None:
    form = Form(id="f", title="F", fields=[Field.info("intro", "Read me", description="Hi")])
    assert form.check({}).ok
    assert form.check({"intro": None}).ok
    assert codes(form, {"intro": "x"}) == [("intro", "unknown")]
    assert not form.all_fields()[0].required


# -- required / optional / errors ---------------------------------------------------------


@pytest.mark.parametrize("missing", [{}, {"name": None}, {"name": ""}])
def test_required_by_default(missing: dict[str, Any]) -> None:
    form = one(Field.text("name", "Name"))
    assert codes(form, missing) == [("name", "required")]


def test_optional_fields() -> None:
    field = Field.text("nick", "Nick", optional=True, min=3)
    assert field.model_dump()["validations"][-1] == {"validation": "optional", "value": "true"}
    form = one(field)
    assert form.check({}).values == {}
    assert form.check({"nick": ""}).ok
    assert codes(form, {"nick": "ab"}) == [("nick", "min")]
    assert form.check({"nick": "abc"}).values == {"nick": "abc"}
    explicit = Field(
        id="x",
        type=FieldType.TEXT,
        name="X",
        validations=[Validation(validation="optional", value="false")],
    )
    assert explicit.required


def test_unknown_keys() -> None:
    form = one(Field.text("name", "Name"))
    assert codes(form, {"name": "Ada", "zeta": 1, "alpha": 2}) == [
        ("alpha", "unknown"),
        ("zeta", "unknown"),
    ]


def test_several_errors_on_one_field() -> None:
    field = Field.text("code", "Code", min=5, format="integer")
    assert bad(field, "abc") == ["min", "format"]


def test_every_problem_is_returned_at_once() -> None:
    form = Form(
        id="f",
        title="F",
        fields=[
            Field.text("name", "Name", min=2),
            Field.number("age", "Age", min=18),
            Field.email("mail", "Mail"),
            Field.option("plan", "Plan", ["basic", "pro"]),
            Field.number("seats", "Seats", visible_when=ShowWhen(field="plan", equals="pro")),
            Field.boolean("news", "News", optional=True),
        ],
    )
    result = form.check(
        {"age": 12, "mail": "x", "plan": "basic", "seats": 2, "news": "maybe", "extra": True}
    )
    assert not result.ok
    assert [(e.field, e.code) for e in result.errors] == [
        ("name", "required"),
        ("age", "min"),
        ("mail", "format"),
        ("seats", "hidden"),
        ("news", "type"),
        ("extra", "unknown"),
    ]
    assert result.values == {"plan": "basic"}
    assert set(result.by_field()) == {"name", "age", "mail", "seats", "news", "extra"}
    assert all(isinstance(e, FieldError) and e.message for e in result.errors)


def test_clean_returns_values_or_raises() -> None:
    form = Form(id="f", title="F", fields=[Field.number("n", "N"), Field.text("t", "T")])
    assert form.clean({"n": "2", "t": "x"}) == {"n": 2, "t": "x"}
    with pytest.raises(FormValidationError) as info:
        form.clean({"n": "two"})
    assert isinstance(info.value, ValueError)
    assert [(e.field, e.code) for e in info.value.errors] == [("n", "type"), ("t", "required")]
    assert "n:" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.errors == info.value.errors


def test_form_check_is_a_model() -> None:
    result = one(Field.number("n", "N")).check({"n": "1"})
    assert FormCheck.model_validate(result.model_dump(mode="json")) == result
    assert result.ok


# -- conditional visibility -----------------------------------------------------------------


def plan_form(**seat_opts: Any) -> Form:
    return Form(
        id="order",
        title="Order",
        fields=[
            Field.option("plan", "Plan", ["basic", "pro"]),
            Field.number(
                "seats",
                "Seats",
                min=1,
                visible_when=ShowWhen(field="plan", equals="pro"),
                **seat_opts,
            ),
        ],
    )


def test_hidden_field_must_not_receive_a_value() -> None:
    form = plan_form()
    assert codes(form, {"plan": "basic", "seats": 3}) == [("seats", "hidden")]
    assert form.check({"plan": "basic", "seats": None}).ok


def test_conditional_field_required_only_when_visible() -> None:
    form = plan_form()
    assert form.check({"plan": "basic"}).values == {"plan": "basic"}
    assert codes(form, {"plan": "pro"}) == [("seats", "required")]
    assert form.check({"plan": "pro", "seats": "4"}).values == {"plan": "pro", "seats": 4}
    assert codes(form, {"plan": "pro", "seats": 0}) == [("seats", "min")]


def test_condition_uses_cleaned_values() -> None:
    form = Form(
        id="f",
        title="F",
        fields=[
            Field.number("n", "N"),
            Field.text("one", "One", visible_when=ShowWhen(field="n", equals=1)),
            Field.text("also_one", "Also one", visible_when=ShowWhen(field="n", equals="1.0")),
            Field.boolean("b", "B"),
            Field.text("yes", "Yes", visible_when=ShowWhen(field="b", equals="true")),
        ],
    )
    assert form.check({"n": "1", "one": "x", "also_one": "y", "b": "true", "yes": "z"}).ok
    assert codes(form, {"n": 2, "one": "x", "b": False, "yes": "z"}) == [
        ("one", "hidden"),
        ("yes", "hidden"),
    ]


def test_condition_in_and_multi_select() -> None:
    form = Form(
        id="f",
        title="F",
        fields=[
            Field.option("tags", "Tags", ["a", "b", "c"], multiple=True),
            Field.text("why_c", "Why c?", visible_when=ShowWhen(field="tags", equals="c")),
            Field.text(
                "ab",
                "A or B",
                visible_when=ShowWhen.model_validate({"field": "tags", "in": ["a", "b"]}),
            ),
        ],
    )
    assert codes(form, {"tags": ["c"]}) == [("why_c", "required")]
    assert codes(form, {"tags": ["b", "c"], "why_c": "x"}) == [("ab", "required")]
    assert form.check({"tags": "c", "why_c": "x"}).ok


def test_booleans_and_numbers_do_not_mix_in_conditions() -> None:
    with pytest.raises(ValidationError, match="not valid for field 'n'"):
        Form(
            id="f",
            title="F",
            fields=[
                Field.number("n", "N"),
                Field.text("t", "T", visible_when=ShowWhen(field="n", equals=True)),
            ],
        )


def test_optional_controller_missing_hides_dependents() -> None:
    form = plan_form()
    form = Form(
        id="f",
        title="F",
        fields=[
            Field.option("plan", "Plan", ["basic", "pro"], optional=True),
            *form.fields[1:],
        ],
    )
    assert form.check({}).ok
    assert codes(form, {"seats": 2}) == [("seats", "hidden")]


def test_invalid_controller_makes_dependents_undecided() -> None:
    form = plan_form()
    # Only the controller's error: the dependent is neither required nor "hidden".
    assert codes(form, {"plan": "gold"}) == [("plan", "choice")]
    assert codes(form, {"plan": "gold", "seats": 3}) == [("plan", "choice")]
    # ...but the dependent's own value is still checked.
    assert codes(form, {"plan": "gold", "seats": "many"}) == [("plan", "choice"), ("seats", "type")]
    assert codes(form, {"seats": 3}) == [("plan", "required")]


def test_visibility_cascades() -> None:
    form = Form(
        id="f",
        title="F",
        fields=[
            Field.boolean("a", "A"),
            Field.boolean("b", "B", visible_when=ShowWhen(field="a", equals=True)),
            Field.text("c", "C", visible_when=ShowWhen(field="b", equals=True)),
        ],
    )
    assert form.check({"a": False}).ok
    assert codes(form, {"a": False, "c": "x"}) == [("c", "hidden")]
    assert form.check({"a": True, "b": True, "c": "x"}).values == {"a": True, "b": True, "c": "x"}


def nested_form() -> Form:
    return Form(
        id="order",
        title="Order",
        description="Buy seats",
        fields=[
            Field.option("plan", "Plan", ["basic", "pro"]),
            Field.boolean("invoice", "Invoice?"),
        ],
        groups=[
            Group(
                id="billing",
                title="Billing",
                visible_when=ShowWhen(field="plan", equals="pro"),
                fields=[Field.text("company", "Company", min=2)],
                groups=[
                    Group(
                        id="address",
                        title="Address",
                        visible_when=ShowWhen(field="invoice", equals=True),
                        fields=[
                            Field.text("street", "Street"),
                            Field.text(
                                "vat",
                                "VAT id",
                                optional=True,
                                visible_when=ShowWhen(field="company", equals="ACME"),
                            ),
                        ],
                    )
                ],
            ),
            Group(
                id="notes",
                title="Notes",
                fields=[Field.textarea("note", "Note", optional=True, max=200)],
            ),
        ],
    )


def test_nested_group_visibility() -> None:
    form = nested_form()
    assert [f.id for f in form.all_fields()] == [
        "plan",
        "invoice",
        "company",
        "street",
        "vat",
        "note",
    ]
    # billing hidden: its fields and its subgroup's fields are neither required nor allowed.
    assert form.check({"plan": "basic", "invoice": True}).ok
    assert codes(form, {"plan": "basic", "invoice": True, "street": "Main St 1"}) == [
        ("street", "hidden")
    ]
    # billing shown, address hidden (invoice false).
    assert codes(form, {"plan": "pro", "invoice": False}) == [("company", "required")]
    assert codes(form, {"plan": "pro", "invoice": False, "company": "ACME", "street": "x"}) == [
        ("street", "hidden")
    ]
    # both shown.
    assert codes(form, {"plan": "pro", "invoice": True, "company": "ACME"}) == [
        ("street", "required")
    ]
    full = {
        "plan": "pro",
        "invoice": True,
        "company": "ACME",
        "street": "Main St 1",
        "vat": "DE123",
        "note": "thanks",
    }
    assert form.clean(full) == full
    assert codes(form, {**full, "company": "Other"}) == [("vat", "hidden")]


# -- serialisation ---------------------------------------------------------------------------


def test_field_dump_is_exactly_mip003() -> None:
    field = Field.text(
        "name",
        "Your name",
        min=2,
        max=80,
        description="Full name",
        placeholder="Ada Lovelace",
        default="Ada",
        visible_when=ShowWhen(field="plan", equals="pro"),
    )
    assert field.model_dump(mode="json") == {
        "id": "name",
        "type": "text",
        "name": "Your name",
        "data": {
            "placeholder": "Ada Lovelace",
            "description": "Full name",
            "default": "Ada",
            "visibleWhen": {"field": "plan", "equals": "pro"},
        },
        "validations": [{"validation": "min", "value": "2"}, {"validation": "max", "value": "80"}],
    }
    assert Field.model_validate(field.model_dump(mode="json")) == field
    assert Field.model_validate_json(field.model_dump_json()) == field


def test_minimal_field_dump_omits_empty_parts() -> None:
    assert Field.boolean("b", "B").model_dump() == {"id": "b", "type": "boolean", "name": "B"}
    opt = Field.option("p", "P", ["x"], multiple=True).model_dump()
    assert opt == {"id": "p", "type": "option", "name": "P", "data": {"values": ["x"]}}


def test_parses_third_party_mip003_field() -> None:
    raw = {
        "id": "f",
        "type": "file",
        "name": "Upload",
        "data": {"description": "PDF", "outputFormat": "url"},
        "validations": [
            {"validation": "accept", "value": ".pdf"},
            {"validation": "min", "value": "1"},
        ],
    }
    field = Field.model_validate(raw)
    assert field.data.output_format == "url"
    assert field.model_dump() == raw


def test_validation_and_data_stringify_numbers() -> None:
    assert Validation(validation="min", value=3).value == "3"  # type: ignore[arg-type]
    assert Validation.model_validate({"validation": "optional", "value": True}).value == "true"
    assert FieldData.model_validate({"min": 1, "step": 0.5}).model_dump() == {
        "min": "1",
        "step": "0.5",
    }


def test_show_when_shapes() -> None:
    assert ShowWhen(field="a", in_=["x", 1]).model_dump() == {"field": "a", "in": ["x", 1]}
    assert ShowWhen.model_validate({"field": "a", "equals": False}).equals is False
    for raw in (
        {"field": "a"},
        {"field": "a", "equals": 1, "in": [1]},
        {"field": "a", "in": []},
        {"field": "a", "equals": 1, "extra": 2},
    ):
        with pytest.raises(ValidationError):
            ShowWhen.model_validate(raw)


def test_form_json_round_trip() -> None:
    form = nested_form()
    assert Form.model_validate(form.model_dump(mode="json")) == form
    assert Form.model_validate_json(form.model_dump_json()) == form
    assert Form.model_validate(json.loads(json.dumps(form.model_dump(mode="json")))) == form


def test_form_round_trips_through_temporal_converter() -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    form = nested_form()
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([form])
    assert converter.from_payloads(payloads, [Form]) == [form]


# -- input_schema ------------------------------------------------------------------------------


def test_input_schema_without_groups() -> None:
    form = plan_form()
    assert form.to_input_schema() == {
        "input_data": [
            {
                "id": "plan",
                "type": "option",
                "name": "Plan",
                "data": {"values": ["basic", "pro"]},
                "validations": [
                    {"validation": "min", "value": "1"},
                    {"validation": "max", "value": "1"},
                ],
            },
            {
                "id": "seats",
                "type": "number",
                "name": "Seats",
                "data": {"visibleWhen": {"field": "plan", "equals": "pro"}},
                "validations": [{"validation": "min", "value": "1"}],
            },
        ]
    }


def test_input_schema_with_groups() -> None:
    schema = nested_form().to_input_schema()
    assert list(schema) == ["input_groups"]
    groups = schema["input_groups"]
    assert [(g["id"], g["title"]) for g in groups] == [
        ("order", "Order"),
        ("billing", "Billing"),
        ("address", "Billing / Address"),
        ("notes", "Notes"),
    ]
    for group in groups:
        assert set(group) == {"id", "title", "input_data"}
        for field in group["input_data"]:
            assert set(field) <= {"id", "type", "name", "data", "validations"}
            for rule in field.get("validations", []):
                assert set(rule) == {"validation", "value"}
                assert isinstance(rule["value"], str)
    assert [f["id"] for f in groups[0]["input_data"]] == ["plan", "invoice"]
    company = groups[1]["input_data"][0]
    assert company["data"] == {"visibleWhen": {"field": "plan", "equals": "pro"}}
    street, vat = groups[2]["input_data"]
    assert street["data"]["visibleWhen"] == {
        "all": [{"field": "plan", "equals": "pro"}, {"field": "invoice", "equals": True}]
    }
    assert vat["data"]["visibleWhen"] == {
        "all": [
            {"field": "plan", "equals": "pro"},
            {"field": "invoice", "equals": True},
            {"field": "company", "equals": "ACME"},
        ]
    }
    assert "visibleWhen" not in groups[3]["input_data"][0].get("data", {})


def test_input_schema_groups_only_and_container_groups() -> None:
    form = Form(
        id="f",
        title="F",
        groups=[
            Group(
                id="outer",
                title="Outer",
                groups=[Group(id="inner", title="Inner", fields=[Field.text("t", "T")])],
            )
        ],
    )
    assert form.to_input_schema() == {
        "input_groups": [
            {
                "id": "inner",
                "title": "Outer / Inner",
                "input_data": [{"id": "t", "type": "text", "name": "T"}],
            }
        ]
    }


def test_empty_form_schema() -> None:
    form = Form(id="f", title="F")
    assert form.to_input_schema() == {"input_data": []}
    assert form.check({}).ok


# Canonical text written by hand; its hash computed with `printf '%s' ... | sha256sum`.
GOLDEN_PLAN_FORM_JSON = (
    '{"input_data":[{"data":{"values":["basic","pro"]},"id":"plan","name":"Plan",'
    '"type":"option","validations":[{"validation":"min","value":"1"},'
    '{"validation":"max","value":"1"}]},{"data":{"visibleWhen":{"equals":"pro",'
    '"field":"plan"}},"id":"seats","name":"Seats","type":"number",'
    '"validations":[{"validation":"min","value":"1"}]}]}'
)
GOLDEN_PLAN_FORM_HASH = "b143f42dccfa555330fa1a2210b8a0e540987841281c7961828b0a39cd2c8b8f"


def test_schema_hash_is_canonical_sha256() -> None:
    form = plan_form()
    canonical = json.dumps(
        form.to_input_schema(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert canonical == GOLDEN_PLAN_FORM_JSON
    assert form.schema_hash() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert form.schema_hash() == GOLDEN_PLAN_FORM_HASH
    assert plan_form().schema_hash() == form.schema_hash()
    assert Form.model_validate_json(form.model_dump_json()).schema_hash() == form.schema_hash()


def test_schema_hash_changes_with_the_form() -> None:
    base = plan_form().schema_hash()
    assert plan_form(description="How many?").schema_hash() != base
    assert plan_form(optional=True).schema_hash() != base
    renamed = Form(
        id="order",
        title="Order",
        fields=[Field.option("plan", "Tier", ["basic", "pro"]), plan_form().fields[1]],
    )
    assert renamed.schema_hash() != base
    # The form's own description is not part of the MIP-003 schema.
    described = plan_form().model_copy(update={"description": "x"})
    assert described.schema_hash() == base


def test_schema_hash_unicode_is_unescaped() -> None:
    form = one(Field.text("name", "Straße"))
    text = json.dumps(
        form.to_input_schema(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert "Straße" in text
    assert form.schema_hash() == hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- construction errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Form(id="f", title="F", fields=[Field.text("a", "A"), Field.text("a", "B")]),
            "duplicate field id 'a'",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                fields=[Field.text("a", "A")],
                groups=[
                    Group(
                        id="g",
                        title="G",
                        groups=[Group(id="h", title="H", fields=[Field.number("a", "A")])],
                    )
                ],
            ),
            "duplicate field id 'a'",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                groups=[
                    Group(id="g", title="G", fields=[Field.text("a", "A")]),
                    Group(id="g", title="G2", fields=[Field.text("b", "B")]),
                ],
            ),
            "duplicate group id 'g'",
        ),
        (
            lambda: Form(
                id="f", title="F", groups=[Group(id="f", title="G", fields=[Field.text("a", "A")])]
            ),
            "duplicate group id 'f'",
        ),
        (
            lambda: Form(id="f", title="F", groups=[Group(id="g", title="G")]),
            "group 'g' has no fields",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                fields=[Field.text("a", "A", visible_when=ShowWhen(field="zz", equals="x"))],
            ),
            "not an earlier field",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                fields=[
                    Field.text("a", "A", visible_when=ShowWhen(field="b", equals="x")),
                    Field.text("b", "B"),
                ],
            ),
            "not an earlier field",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                groups=[
                    Group(
                        id="g",
                        title="G",
                        visible_when=ShowWhen(field="a", equals="x"),
                        fields=[Field.text("a", "A")],
                    )
                ],
            ),
            "not an earlier field",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                fields=[
                    Field.info("i", "Info"),
                    Field.text("a", "A", visible_when=ShowWhen(field="i", equals="x")),
                ],
            ),
            "display-only",
        ),
        (
            lambda: Form(
                id="f",
                title="F",
                fields=[
                    Field.option("plan", "Plan", ["basic", "pro"]),
                    Field.text("a", "A", visible_when=ShowWhen(field="plan", equals="gold")),
                ],
            ),
            "visible_when value 'gold' is not valid",
        ),
    ],
)
def test_invalid_forms_are_rejected(build: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "o", "type": "option", "name": "O"}, "needs a non-empty data.values"),
        ({"id": "o", "type": "radio", "name": "O", "data": {"values": []}}, "non-empty"),
        ({"id": "o", "type": "option", "name": "O", "data": {"values": ["a", "a"]}}, "duplicates"),
        (
            {
                "id": "n",
                "type": "number",
                "name": "N",
                "validations": [{"validation": "min", "value": "lots"}],
            },
            "not valid for type",
        ),
        (
            {
                "id": "d",
                "type": "date",
                "name": "D",
                "validations": [{"validation": "max", "value": "2024-13-01"}],
            },
            "not valid for type",
        ),
        (
            {
                "id": "b",
                "type": "boolean",
                "name": "B",
                "validations": [{"validation": "min", "value": "1"}],
            },
            "does not apply",
        ),
        (
            {
                "id": "t",
                "type": "text",
                "name": "T",
                "validations": [{"validation": "format", "value": "zip"}],
            },
            "unknown format",
        ),
        (
            {
                "id": "b",
                "type": "date",
                "name": "B",
                "validations": [{"validation": "format", "value": "email"}],
            },
            "does not apply",
        ),
        (
            {
                "id": "t",
                "type": "text",
                "name": "T",
                "validations": [{"validation": "accept", "value": ".pdf"}],
            },
            "only to type file",
        ),
        (
            {
                "id": "t",
                "type": "text",
                "name": "T",
                "validations": [{"validation": "optional", "value": "maybe"}],
            },
            "'true' or 'false'",
        ),
        (
            {
                "id": "t",
                "type": "text",
                "name": "T",
                "validations": [{"validation": "required", "value": "true"}],
            },
            "validation",
        ),
        (
            {
                "id": "t",
                "type": "text",
                "name": "T",
                "data": {"visibleWhen": {"field": "t", "equals": "x"}},
            },
            "refers to the field itself",
        ),
        ({"id": "t", "type": "text", "name": "T", "data": {"placeholdr": "typo"}}, "placeholdr"),
        ({"id": "t", "type": "text", "name": "T", "extra": 1}, "extra"),
        ({"id": "", "type": "text", "name": "T"}, "id"),
        ({"id": "t", "type": "bogus", "name": "T"}, "type"),
        ({"id": "r", "type": "range", "name": "R", "data": {"min": "low"}}, "not a number"),
    ],
)
def test_invalid_fields_are_rejected(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Field.model_validate(raw)
    with pytest.raises(ValidationError):
        Form.model_validate({"id": "f", "title": "F", "fields": [raw]})


def test_constructors_cover_common_types() -> None:
    built = [
        Field.text("a", "A"),
        Field.textarea("b", "B"),
        Field.password("c", "C"),
        Field.email("d", "D"),
        Field.url("e", "E"),
        Field.tel("f", "F"),
        Field.number("g", "G"),
        Field.range("h", "H", min=0, max=1),
        Field.boolean("i", "I"),
        Field.checkbox("j", "J"),
        Field.option("k", "K", ["x"]),
        Field.radio("l", "L", ["x"]),
        Field.date("m", "M"),
        Field.time("n", "N"),
        Field.file("o", "O"),
        Field.hidden("p", "P", "v"),
        Field.info("q", "Q"),
    ]
    assert [f.type.value for f in built] == [
        "text",
        "textarea",
        "password",
        "email",
        "url",
        "tel",
        "number",
        "range",
        "boolean",
        "checkbox",
        "option",
        "radio",
        "date",
        "time",
        "file",
        "hidden",
        "none",
    ]
    form = Form(id="all", title="All", fields=built)
    assert Form.model_validate(form.model_dump(mode="json")) == form
