"""The local engine: runs a rendered Argo Workflow on this machine with Argo's semantics."""

from __future__ import annotations

from dflowctl.engines.local.engine import LocalEngine

__all__ = ["LocalEngine"]
