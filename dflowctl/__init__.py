"""dflowctl: declarative workflows for scientific computing on Argo Workflows."""

__version__ = "0.1.0"
