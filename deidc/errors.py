"""The root of deidc's own errors.

Each stage raises its own subclass for a request it refuses (a plan it cannot run, a profile
that does not compile, paths that cannot work); the message is one line that names the file and
says what to do.  The CLI catches this one class, prints the message and exits 2, and renders
the lint findings that a refused profile carries in ``diagnostics``.
"""


class DeidcError(Exception):
    """A request deidc refuses; ``str()`` is the message for the user."""

    diagnostics: list = []  # lint findings behind the refusal, where there are any
