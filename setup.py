"""Only the optional C accelerator lives here; everything else is in pyproject.toml.

``deidc._scan`` speeds up the fast path's element-header walk.  It is optional: without a C
compiler the build skips it with a warning and deidc runs its pure-Python walk, which gives the
same bytes (the tests run both).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("deidc.execute._scan", ["deidc/execute/_scan.c"], optional=True)])
