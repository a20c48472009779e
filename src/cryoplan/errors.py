"""The one error type users see for bad input."""


class InputError(ValueError):
    """Bad input: names the field, the value given and what is allowed.

    >>> str(InputError("grid.spacing_mm", -1.0, "a number > 0"))
    'grid.spacing_mm = -1.0: allowed is a number > 0'
    """

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field} = {value!r}: allowed is {allowed}")

    def __reduce__(self):  # travels between processes (the planner's workers)
        return type(self), (self.field, self.value, self.allowed)


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

    return wrapper
