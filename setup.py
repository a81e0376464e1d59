"""Builds the optional C accelerator; everything else is in pyproject.toml.

``optional=True``: without a compiler the package installs and runs in pure Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("switchboard._speedups", ["src/switchboard/_speedups.c"], optional=True),
    ]
)
