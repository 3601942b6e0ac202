"""The errors jaxbench raises on purpose, for the command line to tell apart from bugs.

Every exception that derives from `JaxbenchError` is an expected failure with a complete,
one-line message (a bad config value, missing or corrupt data, an unreadable record, a full
disk): the command-line entry points print it as `jaxbench: error: <message>` without a
traceback. Anything else is a genuine bug and keeps its traceback.

The classes also derive from the matching builtin (ValueError, KeyError, OSError, ...) so code
that catches those keeps working.
"""
from __future__ import annotations


class JaxbenchError(Exception):
  """An expected failure whose message says what went wrong and what to do."""

  def __str__(self) -> str:
    # KeyError's str() adds quotes around the message; every subclass prints it plain.
    return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(JaxbenchError, ValueError):
  """A config key or value is invalid; the message names it and the valid choices."""


class UnknownKeyError(ConfigError, KeyError):
  """An unknown name or config key; the message includes the closest valid one."""


class DataError(JaxbenchError, OSError):
  """A dataset is missing, incomplete or corrupt; the message names the files and places."""


class RecordError(JaxbenchError, ValueError):
  """A run record is unreadable or belongs to another run."""


class CheckpointError(JaxbenchError, OSError):
  """A checkpoint cannot be read or written."""


class StorageError(JaxbenchError, OSError):
  """Results cannot be written (full disk, read-only or vanished output root)."""
