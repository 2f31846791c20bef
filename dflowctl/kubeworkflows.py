"""Argo's ``Workflow`` objects through the Kubernetes API: create, get, list, patch,
delete, each one call through the client's chokepoint (``KubeClient.call``). No
``kubernetes`` import: the client gives its API objects (``custom()``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from dflowctl.kubeerrors import ARGO_GROUP, Resource

ARGO_VERSION = "v1alpha1"
WORKFLOWS = "workflows"


class _Client(Protocol):
    @property
    def namespace(self) -> str: ...

    def custom(self) -> Any: ...

    def get_json(
        self, res: Resource, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]: ...

    def wf_resource(self, verb: str, name: str | None = None, namespace: str | None = None) -> Resource: ...


class WorkflowCalls:
    """``KubeClient``'s calls on Workflow objects (a mixin over its chokepoint)."""

    def wf_resource(
        self: _Client, verb: str, name: str | None = None, namespace: str | None = None
    ) -> Resource:
        return Resource(verb, "workflows.argoproj.io", namespace or self.namespace, name)

    def create_workflow(self: _Client, body: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        ns = self.namespace
        kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        return self.get_json(
            self.wf_resource("create", None, ns),
            self.custom().create_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            ns,
            WORKFLOWS,
            body,
            **kwargs,
        )

    def get_workflow(self: _Client, name: str) -> dict[str, Any]:
        ns = self.namespace
        return self.get_json(
            self.wf_resource("get", name, ns),
            self.custom().get_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            ns,
            WORKFLOWS,
            name,
        )

    def list_workflows(
        self: _Client, label_selector: str | None = None, field_selector: str | None = None
    ) -> dict:
        ns = self.namespace
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        return self.get_json(
            self.wf_resource("list", None, ns),
            self.custom().list_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            ns,
            WORKFLOWS,
            **kwargs,
        )

    def patch_workflow(self: _Client, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        ns = self.namespace
        return self.get_json(
            self.wf_resource("patch", name, ns),
            self.custom().patch_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            ns,
            WORKFLOWS,
            name,
            patch,
            _content_type="application/merge-patch+json",
        )

    def delete_workflow(self: _Client, name: str) -> dict[str, Any]:
        ns = self.namespace
        return self.get_json(
            self.wf_resource("delete", name, ns),
            self.custom().delete_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            ns,
            WORKFLOWS,
            name,
        )
