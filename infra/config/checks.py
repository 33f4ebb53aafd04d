"""Value checks for the config schema: each takes a value as YAML (and
nameko's `${VAR:default}`) gave it and returns it as its type, or raises
`Invalid` with what it expected. `expected` reads after "expected ..." in the
message that names the key."""
import math
from dataclasses import dataclass


class Invalid(ValueError):
    """A value a check refused; the schema adds the key and the value."""


def _instance(value, types, expected):
    """`value` if it is one of `types` (a bool never is: YAML's true is no number)."""
    if isinstance(value, bool) or not isinstance(value, types):
        raise Invalid(expected)
    return value


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
        try:
            number = int(_instance(value, (int, str), self.expected))
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
        try:
            number = float(_instance(value, (int, float, str), self.expected))
        except ValueError:
            raise Invalid(self.expected) from None
        if not math.isfinite(number) or (self.min is not None and (
                number < self.min or (self.above and number == self.min))) or \
                (self.max is not None and number > self.max):
            raise Invalid(self.expected)
        return number


@dataclass(frozen=True)
class Of:
    """A value of one of `types`, as `convert` makes it."""
    expected: str
    types: tuple
    convert: object

    def __call__(self, value):
        return self.convert(_instance(value, self.types, self.expected))


# A number is text too: `${VAR}` values pass through YAML, so a password or a
# service name made of digits arrives as an int.
TEXT = Of("a string", (str, int, float), str)
# free-form: database URIs, logging's dictConfig, an environment
MAPPING = Of("a mapping", dict, dict)


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
class AtMost:
    """A rule between two keys of a section: `low`'s value <= `high`'s."""
    low: str
    high: str

    def __call__(self, values):
        if values[self.low] > values[self.high]:
            raise Invalid(f"{self.low} ({values[self.low]}) must be at most "
                          f"{self.high} ({values[self.high]})")


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
