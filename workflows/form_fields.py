"""MIP-003 input fields: field types, validations, the :class:`Field` model and its value checks.

What each field type accepts, measures and coerces is data: one :class:`_Kind` row per
:class:`FieldType` in ``_KINDS``. :meth:`Field.of` builds any type from its row, the typed
shorthands (``Field.text``, ``Field.number``, ...) delegate to it, and the definition and value
checks read the same rows.

Imported inside the Temporal workflow sandbox: pure, deterministic code (stdlib + pydantic),
no I/O, no clock, no randomness, no mutable module state. :mod:`workflows.forms` builds forms
from these fields and re-exports every public name here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict, field_validator, model_serializer, model_validator
from pydantic import Field as _PydField

__all__ = [
    "Field",
    "FieldData",
    "FieldError",
    "FieldOptions",
    "FieldType",
    "Scalar",
    "ShowWhen",
    "Validation",
]

Scalar = bool | int | float | str
"""A JSON scalar: the values a visibility condition may compare against."""


class FieldType(StrEnum):
    """The MIP-003 input types (HTML input types; ``string`` is an alias of ``text``).

    Example:
        >>> FieldType("datetime-local") is FieldType.DATETIME_LOCAL
        True
    """

    TEXT = "text"
    STRING = "string"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OPTION = "option"
    NONE = "none"
    EMAIL = "email"
    PASSWORD = "password"
    TEL = "tel"
    URL = "url"
    DATE = "date"
    DATETIME_LOCAL = "datetime-local"
    TIME = "time"
    MONTH = "month"
    WEEK = "week"
    COLOR = "color"
    RANGE = "range"
    FILE = "file"
    HIDDEN = "hidden"
    SEARCH = "search"
    CHECKBOX = "checkbox"
    RADIO = "radio"


_T = FieldType
_FORMATS = frozenset({"email", "url", "nonempty", "integer", "tel-pattern"})
_NUMBER_FORMATS = frozenset({"integer", "nonempty"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_URL = re.compile(r"^https?://(?:[^\s/?#@]+@)?[^\s/?#@:]+(?::\d{1,5})?(?:[/?#]\S*)?$", re.I)
_TELNUM = re.compile(r"^\+?[\d\s().\-/]{3,32}$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class FieldError(BaseModel):
    """One problem with a submitted value, keyed by field id.

    ``code`` is one of ``required``, ``type``, ``min``, ``max``, ``format``, ``choice``,
    ``hidden`` (a value for a field that is not shown) or ``unknown`` (no such input).

    Example:
        >>> FieldError(field="seats", code="min", message="must be at least 1").code
        'min'
    """

    field: str
    code: str
    message: str


class ShowWhen(BaseModel):
    """Conditional visibility: show only when another field's cleaned value matches.

    Exactly one of ``equals`` (one value) or ``in_`` (any of several; JSON key ``in``) is set.
    For a multi-select option the condition holds when any selected item matches.

    Example:
        >>> ShowWhen(field="plan", equals="pro").model_dump()
        {'field': 'plan', 'equals': 'pro'}
        >>> ShowWhen.model_validate({"field": "plan", "in": ["pro", "team"]}).in_
        ['pro', 'team']
    """

    model_config = ConfigDict(extra="forbid")

    field: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rename_in(cls, data: Any) -> Any:
        if isinstance(data, dict) and "in" in data:
            data = {("in_" if k == "in" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ShowWhen:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("a visibility condition needs exactly one of 'equals' or 'in'")
        if self.in_ is not None and not self.in_:
            raise ValueError("a visibility condition's 'in' list must not be empty")
        return self

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        if self.in_ is None:
            return {"field": self.field, "equals": self.equals}
        return {"field": self.field, "in": list(self.in_)}

    def expected(self) -> list[Scalar]:
        """The values the condition accepts (``[equals]`` or the ``in`` list)."""
        if self.in_ is not None:
            return list(self.in_)
        return [self.equals] if self.equals is not None else []


class Validation(BaseModel):
    """One MIP-003 validation rule: ``{"validation": ..., "value": "<string>"}``.

    Numbers and booleans given as ``value`` are turned into their MIP-003 strings.

    Example:
        >>> Validation(validation="min", value="2").model_dump()
        {'validation': 'min', 'value': '2'}
    """

    model_config = ConfigDict(extra="forbid")

    validation: Literal["min", "max", "format", "accept", "optional"]
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int | float) else value


class FieldData(BaseModel):
    """The MIP-003 ``data`` object of a field; keys that are ``None`` are left out of JSON.

    ``output_format`` is the JSON key ``outputFormat``. ``min``/``max``/``step`` (range
    sliders) are strings as in MIP-003; numbers given are stringified.

    Example:
        >>> FieldData(placeholder="Ada", min=1).model_dump()
        {'placeholder': 'Ada', 'min': '1'}
    """

    model_config = ConfigDict(extra="forbid")

    placeholder: str | None = None
    description: str | None = None
    default: Any = None
    values: list[str] | None = None
    min: str | None = None
    max: str | None = None
    step: str | None = None
    output_format: str | None = None
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _rename_output_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and "outputFormat" in data:
            data = {("output_format" if k == "outputFormat" else k): v for k, v in data.items()}
        return data

    @field_validator("min", "max", "step", mode="before")
    @classmethod
    def _number_text(cls, value: Any) -> Any:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return str(value) if numeric else value

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        pairs = [
            ("placeholder", self.placeholder),
            ("description", self.description),
            ("default", self.default),
            ("values", self.values),
            ("min", self.min),
            ("max", self.max),
            ("step", self.step),
            ("outputFormat", self.output_format),
            ("value", self.value),
        ]
        return {k: (list(v) if isinstance(v, list) else v) for k, v in pairs if v is not None}


class FieldOptions(TypedDict, total=False):
    """Keyword options every :class:`Field` constructor takes."""

    optional: bool
    description: str | None
    placeholder: str | None
    default: Any
    visible_when: ShowWhen | None


class _Reject(Exception):
    """Internal: a value failed one check (``code``, ``message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- value coercion: one function per family of types --------------------------------------


def _coerce_text(f: Field, raw: Any) -> str:
    kind = _KINDS[f.type]
    if not isinstance(raw, str):
        raise _Reject("type", "must be a string")
    if kind.auto_format is not None:
        _check_format(kind.auto_format, raw)
    if "value" in kind.data and f.data.value is not None and raw != f.data.value:
        raise _Reject("choice", f"must be the fixed value {f.data.value!r}")
    return raw


def _coerce_number(_f: Field, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _Reject("type", "must be a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if _INT.match(text):
            return int(text)
        if not _FLOAT.match(text):
            raise _Reject("type", "must be a number")
        raw = float(text)
    if not isinstance(raw, float) or not math.isfinite(raw):
        raise _Reject("type", "must be a finite number")
    return int(raw) if raw.is_integer() and abs(raw) <= 2**53 else raw


def _coerce_bool(_f: Field, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _Reject("type", "must be true or false")


def _choose(f: Field, raw: Any) -> str | list[str]:
    allowed = f.data.values or []
    many = _KINDS[f.type].choice == "many"
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and many:
        items = raw
    else:
        raise _Reject("type", f"must be {'a string or a list of strings' if many else 'a string'}")
    if not all(isinstance(i, str) for i in items):
        raise _Reject("type", "selected items must be strings")
    if len(set(items)) != len(items):
        raise _Reject("choice", "an item is selected more than once")
    bad = [i for i in items if i not in allowed]
    if bad:
        raise _Reject("choice", f"not one of {allowed}: {', '.join(map(repr, bad))}")
    return raw if isinstance(raw, str) else list(items)


def _coerce_temporal(f: Field, raw: Any) -> str:
    kind = _KINDS[f.type]
    if not isinstance(raw, str):
        raise _Reject("type", f"must be a string {kind.hint}")
    try:
        kind.parse(raw)
    except ValueError:
        raise _Reject("format", f"must be a valid {f.type.value} ({kind.hint})") from None
    return raw


def _coerce_color(_f: Field, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _Reject("type", "must be a string #rrggbb")
    if not _COLOR.match(raw):
        raise _Reject("format", "must be a colour #rrggbb")
    return raw.lower()


def _coerce_file(f: Field, raw: Any) -> str | list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise _Reject("type", "must be a file reference or a list of them")
    if f.data.output_format == "url" and not all(_URL.match(i) for i in items):
        raise _Reject("format", "must be http(s) URL(s)")
    return raw if isinstance(raw, str) else list(items)


def _coerce_none(_f: Field, _raw: Any) -> Any:
    raise _Reject("unknown", "display-only field takes no value")


def _parser(pattern: str, convert: Callable[[re.Match[str]], Any]) -> Callable[[str], Any]:
    """Temporal text to a comparable value: ``pattern`` must match, then ``convert``."""
    regex = re.compile(pattern)

    def parse(text: str) -> Any:
        match = regex.match(text)
        if match is None:
            raise ValueError(text)
        return convert(match)

    return parse


def _month(match: re.Match[str]) -> tuple[int, int]:
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ValueError(match.string)
    return year, month


def _week(match: re.Match[str]) -> tuple[int, int]:
    year, week = int(match[1]), int(match[2])
    date.fromisocalendar(year, week, 1)  # raises for week 0, or 53 in a 52-week year
    return year, week


def _unparsed(text: str) -> Any:
    raise ValueError(text)


# -- the field kinds: one row per type ------------------------------------------------------

_Bound = Literal["length", "number", "temporal", "count"]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Kind:
    """How one :class:`FieldType` is built, checked and coerced (a row of ``_KINDS``).

    Attributes:
        coerce: Type-checks and coerces a submitted value; raises :class:`_Reject`.
        bound: What ``min``/``max`` measure: ``length`` (characters), ``number``, ``temporal``
            (dates/times, via ``parse``), ``count`` (items or files); ``None``: not allowed.
        rules: :meth:`Field.of` options written as validations, in this order.
        data: :meth:`Field.of` options written into ``data``; data ``min``/``max`` are enforced
            and a data ``value`` is the only one accepted.
        flags: Boolean :meth:`Field.of` options: ``integer`` (``format: integer``) and
            ``multiple`` (without it ``min`` and ``max`` default to 1: a single choice).
        formats: The ``format`` validations that apply.
        auto_format: A format always checked, and written first by :meth:`Field.of`.
        fixed_data: ``data`` keys and values :meth:`Field.of` always sets.
        choice: Picks from ``data.values``: ``one`` value, or ``many`` (a string or a list).
        parse: Temporal text to a comparable value; raises ValueError.
        hint: The expected temporal form, for messages.
    """

    coerce: Callable[[Field, Any], Any]
    bound: _Bound | None = None
    rules: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    formats: frozenset[str] = frozenset()
    auto_format: str | None = None
    fixed_data: tuple[tuple[str, str], ...] = ()
    choice: Literal["one", "many"] | None = None
    parse: Callable[[str], Any] = _unparsed
    hint: str = ""

    @property
    def options(self) -> frozenset[str]:
        """The type-specific options :meth:`Field.of` takes."""
        return frozenset(self.rules + self.data + self.flags)


def _temporal(hint: str, pattern: str, convert: Callable[[re.Match[str]], Any]) -> _Kind:
    parse = _parser(pattern, convert)
    bounds = ("min", "max")
    return _Kind(coerce=_coerce_temporal, bound="temporal", rules=bounds, parse=parse, hint=hint)


_SUBSECOND = r"(?::\d{2}(?:\.\d{1,6})?)?"
_TEXT_KIND = _Kind(
    coerce=_coerce_text, bound="length", rules=("min", "max", "format"), formats=_FORMATS
)
_BOOL_KIND = _Kind(coerce=_coerce_bool)
_KINDS: Mapping[FieldType, _Kind] = MappingProxyType(
    {
        _T.TEXT: _TEXT_KIND,
        _T.STRING: _TEXT_KIND,
        _T.TEXTAREA: _TEXT_KIND,
        _T.PASSWORD: _TEXT_KIND,
        _T.SEARCH: _TEXT_KIND,
        _T.EMAIL: replace(_TEXT_KIND, auto_format="email"),
        _T.URL: replace(_TEXT_KIND, auto_format="url"),
        _T.TEL: replace(_TEXT_KIND, auto_format="tel-pattern"),
        _T.HIDDEN: replace(_TEXT_KIND, data=("value",)),
        _T.NUMBER: _Kind(
            coerce=_coerce_number,
            bound="number",
            rules=("min", "max", "format"),
            flags=("integer",),
            formats=_NUMBER_FORMATS,
        ),
        _T.RANGE: _Kind(
            coerce=_coerce_number,
            bound="number",
            rules=("format",),
            data=("min", "max", "step"),
            formats=_NUMBER_FORMATS,
        ),
        _T.BOOLEAN: _BOOL_KIND,
        _T.CHECKBOX: _BOOL_KIND,
        _T.OPTION: _Kind(
            coerce=_choose,
            bound="count",
            rules=("min", "max"),
            data=("values",),
            flags=("multiple",),
            choice="many",
        ),
        _T.RADIO: _Kind(coerce=_choose, data=("values",), choice="one"),
        _T.DATE: _temporal(
            "YYYY-MM-DD", r"^\d{4}-\d{2}-\d{2}$", lambda m: date.fromisoformat(m.string)
        ),
        _T.DATETIME_LOCAL: _temporal(
            "YYYY-MM-DDTHH:MM",
            rf"^\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}{_SUBSECOND}$",
            lambda m: datetime.fromisoformat(m.string),
        ),
        _T.TIME: _temporal(
            "HH:MM", rf"^\d{{2}}:\d{{2}}{_SUBSECOND}$", lambda m: time.fromisoformat(m.string)
        ),
        _T.MONTH: _temporal("YYYY-MM", r"^(\d{4})-(\d{2})$", _month),
        _T.WEEK: _temporal("YYYY-Www", r"^(\d{4})-W(\d{2})$", _week),
        _T.COLOR: _Kind(coerce=_coerce_color),
        _T.FILE: _Kind(
            coerce=_coerce_file,
            bound="count",
            rules=("accept", "min", "max"),
            fixed_data=(("output_format", "url"),),
        ),
        _T.NONE: _Kind(coerce=_coerce_none),
    }
)


# Typed views of Field.of's options, one per shorthand (runtime truth: the _KINDS rows).


class _Sized(FieldOptions, total=False):
    min: int | None
    max: int | None


class _Text(_Sized, total=False):
    format: str | None


class _Choice(_Sized, total=False):
    multiple: bool


class _File(_Sized, total=False):
    accept: str | None


class _Number(FieldOptions, total=False):
    min: float | None
    max: float | None
    integer: bool


class _Step(FieldOptions, total=False):
    step: float | None


class _Temporal(FieldOptions, total=False):
    min: str | None
    max: str | None


class _AnyOptions(FieldOptions, total=False):
    min: Any
    max: Any
    format: str | None
    integer: bool
    values: list[str] | None
    multiple: bool
    step: float | None
    accept: str | None
    value: str | None


_COMMON = frozenset(FieldOptions.__annotations__)


class Field(BaseModel):
    """One MIP-003 input field; ``model_dump()`` is exactly the MIP-003 field object.

    Our extension ``visible_when`` is written into ``data.visibleWhen`` (MIP-003 clients
    ignore unknown data keys) and read back from there, so JSON round trips are lossless.
    Fields are required unless they carry ``{"validation": "optional", "value": "true"}``.
    :meth:`Field.of` builds any type; ``Field.text``, ``Field.number``, ... are typed
    shorthands for it. All take :class:`FieldOptions`: ``optional``, ``description``,
    ``placeholder``, ``default`` and ``visible_when``.

    Example:
        >>> Field.number("seats", "Seats", min=1).model_dump()["validations"]
        [{'validation': 'min', 'value': '1'}]
        >>> Field.option("plan", "Plan", ["basic", "pro"]).check_value("pro")
        ('pro', [])
        >>> Field.of("radio", "pay", "Pay", values=["card"]) == Field.radio("pay", "Pay", ["card"])
        True
    """

    model_config = ConfigDict(extra="forbid")

    id: str = _PydField(min_length=1)
    type: FieldType
    name: str
    data: FieldData = _PydField(default_factory=FieldData)
    validations: list[Validation] = _PydField(default_factory=list)
    visible_when: ShowWhen | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_visible_when(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            inner = data["data"]
            if "visibleWhen" in inner:
                inner = {k: v for k, v in inner.items() if k != "visibleWhen"}
                data = {**data, "data": inner, "visible_when": data["data"]["visibleWhen"]}
        return data

    @model_validator(mode="after")
    def _check_definition(self) -> Field:
        problems = [f"field {self.id!r}: {p}" for p in _definition_problems(self)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type.value, "name": self.name}
        data = self.data.model_dump()
        if self.visible_when is not None:
            data["visibleWhen"] = self.visible_when.model_dump()
        if data:
            out["data"] = data
        if self.validations:
            out["validations"] = [v.model_dump() for v in self.validations]
        return out

    @property
    def required(self) -> bool:
        """Whether a visible field must be given (MIP-003: required unless ``optional``)."""
        if self.type is FieldType.NONE:
            return False
        return not any(
            v.validation == "optional" and v.value.lower() == "true" for v in self.validations
        )

    def check_value(self, raw: Any) -> tuple[Any, list[FieldError]]:
        """Coerce and validate one non-empty submitted value (visibility is the form's job).

        Args:
            raw: The submitted value, as decoded from JSON.

        Returns:
            ``(cleaned, [])`` when valid, else ``(None, errors)`` with every problem found.
        """
        kind = _KINDS[self.type]
        try:
            value = kind.coerce(self, raw)
        except _Reject as bad:
            return None, [FieldError(field=self.id, code=bad.code, message=bad.message)]
        errors: list[FieldError] = []
        rules: list[tuple[str, str]] = [(v.validation, v.value) for v in self.validations]
        data_bounds = (("min", self.data.min), ("max", self.data.max))
        rules += [(k, b) for k, b in data_bounds if b and k in kind.data]
        for which, rule in rules:
            try:
                if which in ("min", "max"):
                    _check_bound(self.type, which, rule, value)
                elif which == "format":
                    _check_format(rule, value)
            except _Reject as bad:
                errors.append(FieldError(field=self.id, code=bad.code, message=bad.message))
        return (None, errors) if errors else (value, [])

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def of(cls, type: FieldType | str, id: str, name: str, **options: Unpack[_AnyOptions]) -> Field:
        """A field of any type; ``Field.text``, ``Field.number``, ... are typed shorthands for it.

        Besides :class:`FieldOptions` each type takes its own options (see the shorthands):
        ``min``/``max``/``format``/``accept`` become validations (e-mail, URL and telephone
        fields always get their format first), ``values``, ``value`` and a range's
        ``min``/``max``/``step`` go into ``data``, ``integer=True`` means ``format="integer"``
        and an ``option`` is single (``min`` and ``max`` default to 1) unless ``multiple=True``.
        An option given as ``None`` counts as not given.

        Args:
            type: The field type, e.g. ``"month"`` or ``FieldType.MONTH``.
            id: The field id.
            name: The field's label.
            **options: The options above.

        Returns:
            The field, exactly as the matching shorthand would build it.

        Raises:
            TypeError: The type does not take one of the given options.
            ValueError: An unknown type, or an invalid definition (pydantic ValidationError).

        Example:
            >>> Field.of("month", "start", "Start month", min="2025-01").validations[0].value
            '2025-01'
        """
        kind_type = FieldType(type)
        kind = _KINDS[kind_type]
        given = {k: v for k, v in options.items() if v is not None}  # None: not given
        unknown = sorted(set(given) - _COMMON - kind.options)
        if unknown:
            raise TypeError(f"type {kind_type.value!r} takes no option {', '.join(unknown)}")
        if given.pop("integer", False):
            given["format"] = "integer"
        if "multiple" in kind.flags and not given.pop("multiple", False):
            given.update({k: 1 for k in ("min", "max") if given.get(k) is None})
        rules = [
            ("format", kind.auto_format),
            *((k, given.get(k)) for k in kind.rules),
            ("optional", "true" if given.get("optional") else None),
        ]
        validations = [
            Validation.model_validate({"validation": k, "value": v})
            for k, v in rules
            if v is not None
        ]
        data_keys = ("description", "placeholder", "default", *kind.data)
        data = FieldData(**dict(kind.fixed_data), **{k: given[k] for k in data_keys if k in given})
        return cls(
            id=id,
            type=kind_type,
            name=name,
            data=data,
            validations=validations,
            visible_when=given.get("visible_when"),
        )

    @classmethod
    def text(cls, id: str, name: str, **opts: Unpack[_Text]) -> Field:
        """Single-line text; ``min``/``max`` bound its length, ``format`` e.g. ``nonempty``."""
        return cls.of(_T.TEXT, id, name, **opts)

    @classmethod
    def textarea(cls, id: str, name: str, **opts: Unpack[_Text]) -> Field:
        """Multi-line text; ``min``/``max`` bound its length."""
        return cls.of(_T.TEXTAREA, id, name, **opts)

    @classmethod
    def password(cls, id: str, name: str, **opts: Unpack[_Sized]) -> Field:
        """Password text; ``min``/``max`` bound its length."""
        return cls.of(_T.PASSWORD, id, name, **opts)

    @classmethod
    def email(cls, id: str, name: str, **opts: Unpack[_Sized]) -> Field:
        """E-mail address (always format-checked)."""
        return cls.of(_T.EMAIL, id, name, **opts)

    @classmethod
    def url(cls, id: str, name: str, **opts: Unpack[_Sized]) -> Field:
        """An http(s) URL (always format-checked)."""
        return cls.of(_T.URL, id, name, **opts)

    @classmethod
    def tel(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """Telephone number: digits, spaces, ``+()./-`` (always format-checked)."""
        return cls.of(_T.TEL, id, name, **opts)

    @classmethod
    def number(cls, id: str, name: str, **opts: Unpack[_Number]) -> Field:
        """A number; ``min``/``max`` bound its value, ``integer`` adds ``format: integer``."""
        return cls.of(_T.NUMBER, id, name, **opts)

    @classmethod
    def range(cls, id: str, name: str, *, min: float, max: float, **opts: Unpack[_Step]) -> Field:
        """A slider from ``min`` to ``max`` (bounds in ``data``, enforced too)."""
        return cls.of(_T.RANGE, id, name, min=min, max=max, **opts)

    @classmethod
    def boolean(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """A true/false switch (``false`` is a value, so a required boolean may be false)."""
        return cls.of(_T.BOOLEAN, id, name, **opts)

    @classmethod
    def checkbox(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """A single checkbox (true/false)."""
        return cls.of(_T.CHECKBOX, id, name, **opts)

    @classmethod
    def option(cls, id: str, name: str, values: list[str], **opts: Unpack[_Choice]) -> Field:
        """Select from ``values``: single (min = max = 1) unless ``multiple``."""
        return cls.of(_T.OPTION, id, name, values=list(values), **opts)

    @classmethod
    def radio(cls, id: str, name: str, values: list[str], **opts: Unpack[FieldOptions]) -> Field:
        """Pick exactly one of ``values``."""
        return cls.of(_T.RADIO, id, name, values=list(values), **opts)

    @classmethod
    def date(cls, id: str, name: str, **opts: Unpack[_Temporal]) -> Field:
        """A date ``YYYY-MM-DD``; ``min``/``max`` are dates in the same form."""
        return cls.of(_T.DATE, id, name, **opts)

    @classmethod
    def time(cls, id: str, name: str, **opts: Unpack[_Temporal]) -> Field:
        """A time of day ``HH:MM[:SS]``."""
        return cls.of(_T.TIME, id, name, **opts)

    @classmethod
    def file(cls, id: str, name: str, **opts: Unpack[_File]) -> Field:
        """File upload(s), delivered as URL(s) (``outputFormat: url``); min/max count files."""
        return cls.of(_T.FILE, id, name, **opts)

    @classmethod
    def hidden(cls, id: str, name: str, value: str, **opts: Unpack[FieldOptions]) -> Field:
        """A fixed hidden value; when omitted the check fills it in, when sent it must match."""
        return cls.of(_T.HIDDEN, id, name, value=value, **opts)

    @classmethod
    def info(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """Display-only text (type ``none``); it takes no value."""
        return cls.of(_T.NONE, id, name, **opts)


# -- definition checks ------------------------------------------------------------------


def _definition_problems(f: Field) -> list[str]:
    kind = _KINDS[f.type]
    problems: list[str] = []
    if kind.choice is not None:
        values = f.data.values or []
        if not values:
            problems.append(f"type {f.type.value} needs a non-empty data.values")
        elif len(set(values)) != len(values):
            problems.append("data.values has duplicates")
    if f.visible_when is not None and f.visible_when.field == f.id:
        problems.append("visible_when refers to the field itself")
    for v in f.validations:
        which, rule = v.validation, v.value
        if which in ("min", "max"):
            if kind.bound is None:
                problems.append(f"{which} does not apply to type {f.type.value}")
                continue
            try:
                _parse_bound(f.type, rule)
            except ValueError:
                problems.append(f"{which} value {rule!r} is not valid for type {f.type.value}")
        elif which == "format":
            if rule not in _FORMATS:
                problems.append(f"unknown format {rule!r}")
            elif rule not in kind.formats:
                problems.append(f"format {rule!r} does not apply to type {f.type.value}")
        elif which == "accept" and "accept" not in kind.rules:
            problems.append("accept applies only to type file")
        elif which == "optional" and rule.lower() not in ("true", "false"):
            problems.append(f"optional value must be 'true' or 'false', not {rule!r}")
    numeric_data = (("min", f.data.min), ("max", f.data.max), ("step", f.data.step))
    for key, text in numeric_data:
        if key in kind.data and text is not None and not _FLOAT.match(text.strip()):
            problems.append(f"data.{key} {text!r} is not a number")
    return problems


# -- value checks -----------------------------------------------------------------------


def _check_format(fmt: str, value: Any) -> None:
    if fmt == "integer":
        ok = isinstance(value, int) or (isinstance(value, str) and bool(_INT.match(value.strip())))
        if not ok:
            raise _Reject("format", "must be an integer")
        return
    if not isinstance(value, str):
        return  # text formats only constrain strings; numbers are always "nonempty"
    if fmt == "nonempty" and not value.strip():
        raise _Reject("format", "must not be blank")
    if fmt == "email" and not _EMAIL.match(value):
        raise _Reject("format", "must be an e-mail address")
    if fmt == "url" and not _URL.match(value):
        raise _Reject("format", "must be an http(s) URL")
    if fmt == "tel-pattern" and not (_TELNUM.match(value) and sum(c.isdigit() for c in value) >= 3):
        raise _Reject("format", "must be a telephone number")


def _parse_bound(t: FieldType, text: str) -> Any:
    kind, text = _KINDS[t], text.strip()
    if kind.bound in ("length", "count"):
        if not text.isdigit():
            raise ValueError(text)
        return int(text)
    if kind.bound == "number":
        if not _FLOAT.match(text):
            raise ValueError(text)
        return float(text) if not _INT.match(text) else int(text)
    return kind.parse(text)


def _check_bound(t: FieldType, which: str, rule: str, value: Any) -> None:
    kind = _KINDS[t]
    bound = _parse_bound(t, rule)
    if kind.bound == "length":
        measured = len(value)
    elif kind.bound == "count":
        measured = 1 if isinstance(value, str) else len(value)
    elif kind.bound == "number":
        measured = value
    else:
        measured = kind.parse(value)
    low = which == "min"
    if (measured >= bound) if low else (measured <= bound):
        return
    word = "least" if low else "most"
    rule = rule.strip()
    message = {
        "length": f"must be at {word} {rule} characters long",
        "count": f"must have at {word} {rule} selected",
        "number": f"must be at {word} {rule}",
        "temporal": f"must be {'on or after' if low else 'on or before'} {rule}",
    }[kind.bound or "number"]
    raise _Reject(which, message)
