"""The one error type users see: a single clear line and exit code 2, never a traceback."""


class BenchError(Exception):
    """Bad input or a missing prerequisite. The CLI prints `error: <message>` and exits with 2."""

    exit_code = 2
