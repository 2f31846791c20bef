"""Which Python runs a local Python op, and whether it can import what the op imports.

``choose`` is the rule (pure), ``imports`` reads an op's imports statically,
``probe`` asks an interpreter what it can import (one subprocess per
interpreter), ``plan`` puts them together for a run before anything starts.
The Argo engine never uses this package: there the image decides.
"""
