"""Ctrl-C during a checkpoint write is held back until the write is complete."""
from __future__ import annotations

import os
import signal

import pytest

from jaxbench.run import checkpoint


def test_sigint_during_a_checkpoint_write_arrives_after_it():
  finished = []
  with pytest.raises(KeyboardInterrupt):
    with checkpoint.signals_deferred():
      os.kill(os.getpid(), signal.SIGINT)
      # Python runs signal handlers between bytecodes: give it many chances to (wrongly) fire.
      total = sum(range(200_000))
      finished.append(total)
  assert finished == [sum(range(200_000))]           # the write ran to its end
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_without_a_signal_nothing_is_raised_and_handlers_are_restored():
  before = signal.getsignal(signal.SIGTERM)
  with checkpoint.signals_deferred():
    pass
  assert signal.getsignal(signal.SIGTERM) is before
