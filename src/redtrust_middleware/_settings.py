"""Settings read by their type: one table for the environment and for dict-style settings.

Each field of a settings dataclass becomes a :class:`Setting` whose :class:`Kind` comes from
the field's annotation, so a field added later is read with no further code. A type with no
kind here makes :func:`setting_table` raise at once (at import of the module that builds the
table), never a field silently left unread.

Text forms (environment variables): lists comma separated (``a,b``), booleans
``true/false/1/0/yes/no/on/off`` (any case), mappings ``name=value`` pairs comma separated
(``a=1,b=2``). An empty variable means unset. Errors name the variable, say what it must be
and give an example; they never show the value received.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from .exceptions import ConfigurationError

__all__ = ["Kind", "Setting", "close_match", "read_environ", "setting_table"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """How one type of value is written: as environment text and as a Python value.

    ``parse`` and ``accept`` raise :class:`ValueError` (or :class:`TypeError`) for a bad
    value; the caller turns that into a :class:`ConfigurationError` from ``must``.
    """

    #: What a valid value is, after the name: "must be a whole number".
    must: str
    #: A valid value as environment text.
    example: str
    #: Environment text -> value.
    parse: Callable[[str], Any]
    #: A Python value (a Django setting) -> value.
    accept: Callable[[Any], Any]
    #: A value -> its environment text (for examples taken from defaults).
    show: Callable[[Any], str] = str
    #: A valid Python value as source text; ``None``: ``repr(parse(example))``.
    python_example: str | None = None
    #: What a valid Python value is, when it differs from ``must``.
    python_must: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One field of a settings dataclass, with its environment variable and dict key."""

    name: str
    variable: str
    key: str
    kind: Kind
    required: bool
    #: Never shown: not in ``repr``, not in any error (the field has ``repr=False``).
    secret: bool
    default: Any
    #: A valid value as environment text.
    example: str
    #: ``prefix + NAME`` when the field is read from another variable: refused if set, so a
    #: value put there is not silently ignored.
    unread_variable: str | None = None

    @property
    def python_example(self) -> str:
        """A valid value as Python source, for dict-style settings."""
        if self.kind.python_example is not None:
            return self.kind.python_example
        return repr(self.kind.parse(self.example))

    def env_problem(self, problem: str | None = None) -> ConfigurationError:
        """A :class:`ConfigurationError` naming the variable, with an example of a value."""
        text = problem or self.kind.must
        return ConfigurationError(
            self.variable, f"{text}; for example {self.variable}={self.example}"
        )

    def key_problem(self, label: str, problem: str | None = None) -> ConfigurationError:
        """The same for a dict-style setting, ``label`` naming the key (``REDTRUST['X']``)."""
        text = problem or self.kind.python_must or self.kind.must
        return ConfigurationError(label, f"{text}; for example {self.key!r}: {self.python_example}")


# --- kinds of values -----------------------------------------------------------------------


def _instance(*types_: type) -> Callable[[Any], Any]:
    def accept(value: Any) -> Any:
        if isinstance(value, bool) and bool not in types_:
            raise TypeError("a bool is not a number")
        if not isinstance(value, types_):
            raise TypeError(f"not a {types_}")
        return value

    return accept


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("not a boolean")


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_TEXT = Kind(must="must be text", example="text", parse=str, accept=_instance(str))


def _whole(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a Python setting of 5.0 means 5
    number: int = _instance(int)(value)
    return number


_INT = Kind(must="must be a whole number", example="5", parse=int, accept=_whole)
_FLOAT = Kind(
    must="must be a number",
    example="2.5",
    parse=float,
    accept=_instance(int, float),
    show=_number_text,
)
_BOOL = Kind(
    must="must be true or false (also 1/0, yes/no, on/off)",
    example="true",
    parse=_boolean,
    accept=_instance(bool),
    show=lambda value: "true" if value else "false",
)
_SCALARS: Mapping[Any, Kind] = {str: _TEXT, int: _INT, float: _FLOAT, bool: _BOOL}


def _choice(choices: tuple[Any, ...]) -> Kind:
    def parse(text: str) -> Any:
        for choice in choices:
            if str(choice) == text.strip():
                return choice
        raise ValueError("not a choice")

    def accept(value: Any) -> Any:
        if value not in choices:
            raise ValueError("not a choice")
        return value

    return Kind(
        must=f"must be one of {', '.join(map(str, choices))}",
        example=str(choices[0]),
        parse=parse,
        accept=accept,
    )


def _items(text: str) -> list[str]:
    """Comma-separated items, trimmed; empty items are dropped (``"a, b,,"`` -> a, b)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _collection(item: Kind, make: Callable[[Iterable[Any]], Any], sets: bool) -> Kind:
    def accept(value: Any) -> Any:
        unordered = isinstance(value, set | frozenset)
        if not isinstance(value, list | tuple | set | frozenset) or (unordered and not sets):
            raise TypeError("not a list")
        return make(item.accept(v) for v in value)

    return Kind(
        must=f"must be a comma-separated list; each item {item.must}",
        example="a,b" if item is _TEXT else f"{item.example},{item.example}",
        parse=lambda text: make(item.parse(part) for part in _items(text)),
        accept=accept,
        show=lambda value: ",".join(item.show(v) for v in value),
    )


def _mapping(key: Kind, value: Kind) -> Kind:
    def parse(text: str) -> dict[Any, Any]:
        pairs: dict[Any, Any] = {}
        for part in _items(text):
            name, equals, raw = part.partition("=")
            if not equals or not name.strip() or not raw.strip():
                raise ValueError("not name=value")
            parsed = key.parse(name.strip())
            if parsed in pairs:
                raise ValueError("a name given twice")
            pairs[parsed] = value.parse(raw.strip())
        return pairs

    def accept(given: Any) -> dict[Any, Any]:
        if not isinstance(given, Mapping):
            raise TypeError("not a mapping")
        return {key.accept(k): value.accept(v) for k, v in given.items()}

    first = "name" if key is _TEXT else key.example
    second = "value" if value is _TEXT else value.example
    return Kind(
        must="must be name=value pairs, comma separated",
        example=f"{first}={second},{first}2={second}",
        parse=parse,
        accept=accept,
        show=lambda pairs: ",".join(f"{key.show(k)}={value.show(v)}" for k, v in pairs.items()),
    )


def _optional(inner: Kind) -> Kind:
    return dataclasses.replace(
        inner, accept=lambda value: None if value is None else inner.accept(value)
    )


def kind_of(annotation: Any) -> Kind:
    """The kind for a type annotation.

    Raises:
        TypeError: no kind reads this type (add one here, or give the field a special kind).
    """
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is Literal and arguments:
        return _choice(arguments)
    if origin in (Union, types.UnionType) and type(None) in arguments and len(arguments) == 2:
        return _optional(kind_of(next(a for a in arguments if a is not type(None))))
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        return _collection(_scalar(arguments[0]), tuple, sets=False)
    if origin is frozenset and len(arguments) == 1:
        return _collection(_scalar(arguments[0]), frozenset, sets=True)
    if origin in (Mapping, dict) and len(arguments) == 2:
        return _mapping(_scalar(arguments[0]), _scalar(arguments[1]))
    raise TypeError(f"no reader for settings of type {annotation!r}")


def _scalar(annotation: Any) -> Kind:
    """A kind that can be one item of a list or a mapping (its text holds no comma)."""
    kind = kind_of(annotation)
    if annotation not in _SCALARS and typing.get_origin(annotation) is not Literal:
        raise TypeError(f"no reader for items of type {annotation!r} in a list or mapping")
    return kind


# --- the table ------------------------------------------------------------------------------


def setting_table(
    cls: type,
    *,
    prefix: str,
    special: Mapping[str, Kind],
    variables: Mapping[str, str],
    examples: Mapping[str, str],
) -> tuple[Setting, ...]:
    """One :class:`Setting` per field of the dataclass ``cls``, in field order.

    ``special`` gives the kind of a field whose type has none here; ``variables`` a variable
    other than ``prefix + NAME``; ``examples`` an example for a field whose default is none.

    Raises:
        TypeError: a field's type has no kind (names the field).
    """
    hints = typing.get_type_hints(cls)
    table: list[Setting] = []
    for field in dataclasses.fields(cls):
        try:
            kind = special.get(field.name) or kind_of(hints[field.name])
        except TypeError as error:
            raise TypeError(
                f"{cls.__name__}.{field.name}: {error}; give it a kind in "
                f"redtrust_middleware._settings or a special kind where the table is built"
            ) from None
        default: Any = field.default
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        required = default is dataclasses.MISSING
        if required:
            default = None
        example = examples.get(field.name)
        if example is None and default not in (None, (), frozenset(), {}):
            example = kind.show(default)
        plain = prefix + field.name.upper()
        table.append(
            Setting(
                name=field.name,
                variable=variables.get(field.name, plain),
                key=field.name.upper(),
                kind=kind,
                required=required,
                secret=not field.repr,
                default=default,
                example=example or kind.example,
                unread_variable=plain if field.name in variables else None,
            )
        )
    return tuple(table)


def read_environ(
    table: Iterable[Setting], environ: Mapping[str, str], *, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """The values of the settings whose variable is set (and not empty), by field name.

    Fields named in ``skip`` (given as keywords) are not read, so they need no variable.

    Raises:
        ConfigurationError: a variable holds a bad value, or a required one is not set.
    """
    skipped = set(skip)
    values: dict[str, Any] = {}
    for setting in table:
        if setting.name in skipped:
            continue
        unread = setting.unread_variable
        if unread is not None and environ.get(unread):
            instead = f"{setting.variable}={setting.example}"
            raise ConfigurationError(unread, f"is not read: set {instead} instead")
        text = environ.get(setting.variable)
        if not text:
            if setting.required:
                raise setting.env_problem("is not set")
            continue
        try:
            values[setting.name] = setting.kind.parse(text)
        except (ValueError, TypeError):
            raise setting.env_problem() from None
    return values


def close_match(name: str, known: Iterable[str]) -> str:
    """A ``"; did you mean 'X'?"`` hint for a misspelt name, or ``""``."""
    candidates = sorted(known)
    upper = name.upper()
    for spelling in (upper, upper.removeprefix("REDTRUST_")):
        if spelling in candidates and spelling != name:
            return f"; did you mean {spelling!r}?"
    found = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.75)
    return f"; did you mean {found[0]!r}?" if found else ""
