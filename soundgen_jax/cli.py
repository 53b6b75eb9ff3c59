"""Command-line plumbing shared by launch/*: user mistakes end in one line, not a traceback."""
from __future__ import annotations

import sys
from collections.abc import Callable

from soundgen_jax import startup

# Every command line imports this module before TensorFlow loads.
startup.quiet()


class UserError(Exception):
  """A mistake the user can fix; the message says what to do."""


def user_errors() -> tuple[type[BaseException], ...]:
  from soundgen_jax.audio import AudioError
  from soundgen_jax.convert.common import ConversionError
  return (UserError, AudioError, ConversionError, FileNotFoundError, NotADirectoryError,
          PermissionError, IsADirectoryError)


def run(main: Callable[[], int | None]) -> None:
  """Runs `main`; a user error prints `error: ...` on one line and exits with status 2."""
  try:
    sys.exit(main() or 0)
  except user_errors() as e:
    message = " ".join(str(e).split()) or type(e).__name__
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
