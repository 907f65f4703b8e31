"""Settings read by their type: one table for the environment and for dict-style settings.

Each field of a settings dataclass becomes a :class:`Setting` whose :class:`Kind` comes from
the field's annotation, so a field added later is read with no further code. A type with no
kind here makes :func:`setting_table` raise at once (at import of the module that builds the
table), never a field silently left unread.

Text forms (environment variables): lists comma separated (``a,b``), booleans
``true/false/1/0/yes/no/on/off`` (any case), mappings ``name=value`` pairs comma separated
(``a=1,b=2``). An empty variable means unset. Errors name the variable, say what it must be
and give an example; they never show the value received.

Reading finds every problem at once: :func:`read_values` reads one source (the environment,
or a front-end's mapping of Python values, named by a :class:`Source`) and :func:`collect`
builds the dataclass, recording each field it refuses; ``read_environ`` raises them.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, Union

from .exceptions import ConfigurationError

__all__ = [
    "ENVIRONMENT",
    "Collected",
    "ConfigProblem",
    "Kind",
    "Setting",
    "Source",
    "close_match",
    "collect",
    "combined_error",
    "read_environ",
    "read_values",
    "setting_table",
]

C = TypeVar("C")

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    """One invalid or missing setting, named as its source names it, with the fix."""

    #: The setting as the user wrote it: ``REDTRUST_TIMEOUT``, ``REDTRUST['TIMEOUT']``.
    name: str
    #: What is wrong: ``must be a number``, ``is not set``.
    problem: str
    #: How to fix it, a valid example where there is one: ``for example REDTRUST_TIMEOUT=10``.
    fix: str = ""
    #: The setting at fault, when it is a field of the table.
    setting: Setting | None = None
    #: Its environment variable, for a value given in code (``from_env(timeout=...)``).
    variable: str | None = None

    @property
    def field(self) -> str:
        """The field name of the setting at fault, else :attr:`name`."""
        return self.name if self.setting is None else self.setting.name

    def error(self) -> ConfigurationError:
        """This problem as a :class:`ConfigurationError` (``name: problem; fix``)."""
        text = f"{self.problem}; {self.fix}" if self.fix else self.problem
        return ConfigurationError(self.name, text, variable=self.variable)


def combined_error(problems: Sequence[ConfigProblem]) -> ConfigurationError:
    """The first problem as a :class:`ConfigurationError` whose message lists the others too,
    so one start-up names every mistake (``field`` and ``problem`` are the first one's)."""
    first, *others = problems
    error = first.error()
    also = tuple(str(other.error()) for other in others)
    return ConfigurationError(error.field, error.problem, variable=error.variable, also=also)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where settings are read from and how it names them, so each error points at the fix.

    The templates are :meth:`str.format` strings: ``key`` from a setting's ``{key}``
    (``TIMEOUT``) and ``{variable}`` (``REDTRUST_TIMEOUT``); ``label`` from ``{key}``, the key
    found there; ``example`` from ``{key}``, ``{text}`` (the example as environment text) and
    ``{python}`` (as Python source).
    """

    #: The key of a setting in this source.
    key: str = "{key}"
    #: A key as shown in errors.
    label: str = "{key}"
    #: A valid value as written in this source.
    example: str = "{key!r}: {python}"
    #: The values are environment text, parsed (empty means unset); else Python values.
    text: bool = False

    def key_of(self, setting: Setting) -> str:
        """The key of ``setting`` in this source."""
        return self.key.format(key=setting.key, variable=setting.variable)

    def name(self, key: object) -> str:
        """A key of this source as errors show it."""
        return self.label.format(key=key)

    def problem(self, setting: Setting, cause: str | None = None) -> ConfigProblem:
        """``setting`` is refused for ``cause`` (default: what a valid value is)."""
        kind = setting.kind
        key = self.key_of(setting)
        example = self.example.format(key=key, text=setting.example, python=setting.python_example)
        return ConfigProblem(
            name=self.name(key),
            problem=cause or (kind.must if self.text else kind.python_must or kind.must),
            fix=f"for example {example}",
            setting=setting,
        )


#: The environment: ``REDTRUST_TIMEOUT=10``.
ENVIRONMENT = Source(key="{variable}", example="{key}={text}", text=True)


def read_values(
    table: Iterable[Setting],
    given: Mapping[str, Any],
    source: Source,
    *,
    skip: Iterable[str] = (),
    required: Iterable[str] = (),
    own: Iterable[str] = (),
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The settings of ``table`` found in ``given``, by field name, and every problem at once.

    Fields named in ``skip`` are not read; those in ``required`` are required here too. A key
    of a source of Python values that is no setting is a problem (with a close spelling),
    unless it is in ``own``: the keys its front-end reads itself.
    """
    skipped, needed = set(skip), set(required)
    settings = [setting for setting in table if setting.name not in skipped]
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    if not source.text:
        known = {source.key_of(setting) for setting in settings} | set(own)
        problems += [
            ConfigProblem(
                name=source.name(key),
                problem=f"is not a Redtrust setting{close_match(str(key), known)}",
            )
            for key in given
            if key not in known
        ]
    for setting in settings:
        key = source.key_of(setting)
        required_here = setting.required or setting.name in needed
        unread = setting.unread_variable
        if source.text and unread is not None and given.get(unread):
            instead = f"{setting.variable}={setting.example}"
            problems.append(
                ConfigProblem(name=unread, problem=f"is not read: set {instead} instead")
            )
        # Unset: an empty variable, a required key left empty, or (Python values) no key.
        strict = source.text or required_here
        missing = not given.get(key) if strict else key not in given
        if missing:
            if required_here:
                problems.append(
                    source.problem(setting, "is not set" if source.text else "is required")
                )
            continue
        convert = setting.kind.parse if source.text else setting.kind.accept
        try:
            values[setting.name] = convert(given[key])
        except (ValueError, TypeError):
            problems.append(source.problem(setting))
    return values, problems


def read_environ(
    table: Iterable[Setting], environ: Mapping[str, str], *, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """The values of the settings whose variable is set (and not empty), by field name.

    Fields named in ``skip`` (given as keywords) are not read, so they need no variable.

    Raises:
        ConfigurationError: a variable holds a bad value, or a required one is not set (the
            first, its message listing the others).
    """
    values, problems = read_values(table, environ, ENVIRONMENT, skip=skip)
    if problems:
        raise combined_error(problems)
    return values


# --- a whole config, every problem at once -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Collected(Generic[C]):
    """What :func:`collect` found.

    ``config`` is built from the valid settings, with defaults in place of the invalid ones;
    it is ``None`` when a required one is missing or invalid (then nothing can be checked
    against a server). ``warnings`` are the config's own start-up warnings, kept instead of
    logged while problems were collected (or with ``capture``).
    """

    config: C | None
    problems: tuple[ConfigProblem, ...]
    warnings: tuple[str, ...] = ()

    def error(self) -> ConfigurationError | None:
        """Every problem as one :class:`ConfigurationError` (see :func:`combined_error`)."""
        return combined_error(self.problems) if self.problems else None


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().removeprefix("redtrust: "))


@contextmanager
def _warnings_of(logger_name: str) -> Iterator[list[str]]:
    """The warnings logged to ``logger_name`` meanwhile, kept instead of logged (each
    attempt of :func:`collect` would log them again)."""
    logger = logging.getLogger(logger_name)
    handler = _Captured()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.messages
    finally:
        logger.propagate = propagate
        logger.removeHandler(handler)


def collect(
    make: Callable[..., C],
    table: Iterable[Setting],
    values: Mapping[str, Any],
    problems: Sequence[ConfigProblem] = (),
    *,
    source: Source,
    logger: str,
    code: Collection[str] = (),
    capture: bool = False,
) -> Collected[C]:
    """Build ``make(**values)`` (a settings dataclass), finding every problem.

    The dataclass checks its fields one after the other and stops at the first bad one; here
    a bad field is recorded and replaced (by its default, or for a required one by a valid
    example) and it is built again, so one run names them all. ``problems`` found while
    reading the values come first. Fields in ``code`` were given in code, and are named so.
    Warnings logged to ``logger`` are logged as usual when nothing is wrong, unless
    ``capture`` (the doctor) keeps them in :attr:`Collected.warnings`.
    """
    by_name = {setting.name: setting for setting in table}
    found = list(problems)
    values = dict(values)
    if not found and not capture:
        try:
            return Collected(config=make(**values), problems=())
        except ConfigurationError:
            pass  # collected below, without logging the warnings of every attempt
    usable = not any(p.setting is None or p.setting.required for p in found)
    for problem in found:  # stand-ins for required settings that could not be read
        if problem.setting is not None and problem.setting.required:
            values.setdefault(problem.setting.name, _stand_in(problem.setting))
    replaced: set[str] = set()
    for _ in range(len(by_name) + 1):
        with _warnings_of(logger) as warned:
            try:
                config = make(**values)
            except ConfigurationError as error:
                setting = by_name.get(error.field)
                found.append(_refused(error, setting, source, code))
                if setting is None or setting.name in replaced:
                    return Collected(config=None, problems=tuple(found))
                replaced.add(setting.name)
                if setting.required:
                    values[setting.name] = _stand_in(setting)
                    usable = False
                elif setting.name in values:
                    del values[setting.name]
                else:  # its default is refused because of another field: nothing to replace
                    return Collected(config=None, problems=tuple(found))
                continue
        return Collected(
            config=config if usable else None, problems=tuple(found), warnings=tuple(warned)
        )
    return Collected(config=None, problems=tuple(found))  # pragma: no cover - bounded above


def _refused(
    error: ConfigurationError, setting: Setting | None, source: Source, code: Collection[str]
) -> ConfigProblem:
    if setting is None:
        return ConfigProblem(name=error.field, problem=error.problem)
    if setting.name in code:
        return ConfigProblem(
            name=setting.name, problem=error.problem, setting=setting, variable=setting.variable
        )
    return source.problem(setting, error.problem)


def _stand_in(setting: Setting) -> Any:
    """A valid value for a required setting, so the other fields can still be checked."""
    return setting.kind.parse(setting.example)


def close_match(name: str, known: Iterable[str]) -> str:
    """A ``"; did you mean 'X'?"`` hint for a misspelt name, or ``""``."""
    candidates = sorted(known)
    upper = name.upper()
    for spelling in (upper, upper.removeprefix("REDTRUST_")):
        if spelling in candidates and spelling != name:
            return f"; did you mean {spelling!r}?"
    found = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.75)
    return f"; did you mean {found[0]!r}?" if found else ""
