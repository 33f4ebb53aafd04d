"""Value checks for the config schema: each takes a value as YAML (and
nameko's `${VAR:default}`) gave it and returns it as its type, or raises
`Invalid` with what it expected. `expected` reads after "expected ..." in the
message that names the key."""
import math
from dataclasses import dataclass


class Invalid(ValueError):
    """A value a check refused; the schema adds the key and the value."""


def _bounds(low, high, above=False):
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" > {low}" if above else f" >= {low}"
    return f" <= {high}" if high is not None else ""


@dataclass(frozen=True)
class Integer:
    min: int = None
    max: int = None

    @property
    def expected(self):
        return "an integer" + _bounds(self.min, self.max)

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise Invalid(self.expected)
        try:
            number = int(value)
        except ValueError:
            raise Invalid(self.expected) from None
        if (self.min is not None and number < self.min) or \
                (self.max is not None and number > self.max):
            raise Invalid(self.expected)
        return number


@dataclass(frozen=True)
class Number:
    min: float = None
    above: bool = False    # min itself refused (a timeout of 0 means nothing)
    max: float = None

    @property
    def expected(self):
        return "a number" + _bounds(self.min, self.max, self.above)

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise Invalid(self.expected)
        try:
            number = float(value)
        except ValueError:
            raise Invalid(self.expected) from None
        if not math.isfinite(number) or (self.min is not None and (
                number < self.min or (self.above and number == self.min))) or \
                (self.max is not None and number > self.max):
            raise Invalid(self.expected)
        return number


@dataclass(frozen=True)
class Text:
    expected = "a string"

    def __call__(self, value):
        # a number is text too: `${VAR}` values pass through YAML, so a
        # password or a service name made of digits arrives as an int
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Invalid(self.expected)
        return str(value)


FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True)
class Flag:
    expected = "true or false"

    def __call__(self, value):
        # YAML gives a bool; a word from elsewhere (a test's environment) must say it plainly
        word = value if isinstance(value, bool) else FLAG_WORDS.get(str(value).strip().lower())
        if word is None:
            raise Invalid(self.expected)
        return word


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    @property
    def expected(self):
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def __call__(self, value):
        if value not in self.choices:
            raise Invalid(self.expected)
        return value


@dataclass(frozen=True)
class Mapping:
    """A free-form mapping (database URIs, logging's dictConfig, an environment)."""
    expected = "a mapping"

    def __call__(self, value):
        if not isinstance(value, dict):
            raise Invalid(self.expected)
        return dict(value)
