"""Tests of the ``switchboard`` command line."""
