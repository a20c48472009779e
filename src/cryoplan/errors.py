"""The one error type users see for bad input."""

#: Longest value an error message repeats (a hostile file can hold a megabyte in one key).
MAX_SHOWN = 80


def shown(value: object) -> str:
    """``repr(value)`` on one line, shortened to about ``MAX_SHOWN`` characters.

    >>> len(shown("x" * 200)), shown("x" * 200)[-6:], shown(None)
    (80, 'xxx...', 'None')
    """
    try:
        text = repr(value)
    except RecursionError:  # a structure nested thousands deep
        return "(deeply nested values)"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _printable(field: str) -> str:
    """A field name as one printable line (a key from a file may hold anything), shortened."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(field))
    return text if len(text) <= 2 * MAX_SHOWN else text[: 2 * MAX_SHOWN - 3] + "..."


def masked(url: str) -> str:
    """A URL fit to print: its password replaced by ***.

    >>> masked("postgresql+psycopg://alice:s3cr%40t@db.example:5432/reg")
    'postgresql+psycopg://alice:***@db.example:5432/reg'
    >>> masked("sqlite:///reg.db")
    'sqlite:///reg.db'
    """
    import re

    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


#: The value of a required key that is not there.
MISSING = _Missing()


class InputError(ValueError):
    """Bad input: names the field, the value given and what is allowed.

    >>> str(InputError("grid.spacing_mm", -1.0, "a number > 0"))
    'grid.spacing_mm = -1.0: allowed is a number > 0'
    """

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        allowed = " ".join(str(allowed).split())  # one line, whatever an underlying message held
        super().__init__(f"{_printable(field)} = {shown(value)}: allowed is {allowed}")

    def __reduce__(self):  # travels between processes (the planner's workers)
        return type(self), (self.field, self.value, self.allowed)


class Busy(Exception):
    """A shared resource (the registry's database) is held by another writer: nothing was
    done, and the same request can be made again (the web planner answers 503 with Retry-After;
    the command line exits with ``EXIT_BUSY``)."""


#: Exit code of a command that found its resource busy (sysexits' EX_TEMPFAIL: try again).
EXIT_BUSY = 75


def exit_on_input_error(fn):
    """For command-line entry points: an InputError becomes one line on stderr and exit code 2."""
    import functools
    import sys

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            sys.stderr.write(f"error: {err}\n")
            raise SystemExit(2) from None
        except Busy as err:
            sys.stderr.write(f"error: {err}\n")
            raise SystemExit(EXIT_BUSY) from None

    return wrapper
