"""A Kubernetes API stand-in on loopback, for the real ``kubernetes`` client.

It answers the REST paths and JSON the API server uses for what dflowctl
touches: ``workflows.argoproj.io`` custom objects (create with generateName and
dryRun, get, list with label/field selectors, merge/json patch, delete, and
``?watch=true`` streams with resourceVersion, bookmarks and 410 Expired),
``pods/{name}/log`` (incl. ``follow``), configmaps, secrets, namespaces and
discovery. Errors are ``Status`` bodies with the API server's codes, reasons
and messages. Bearer-token auth with per-user rules gives real 401/403s.

Fault knobs (attributes of ``FakeKube``, safe to change while it runs):
``cut_watch_after`` (close the next watch streams abruptly after N events),
``fail_next`` (answer the next N requests matching ``fail_match`` with 500s),
``expire_next_watch`` (answer the next N watches with 410 Expired),
``delay`` (seconds to sleep before each answer), ``crd_installed``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ARGO = ("argoproj.io", "v1alpha1", "workflows")
GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def not_found(kind: str, name: str, group: str = "") -> ApiError:
    what = f"{kind}.{group}" if group else kind
    return ApiError(
        status_body(
            404, "NotFound", f'{what} "{name}" not found', {"name": name, "group": group, "kind": kind}
        )
        if group
        else status_body(404, "NotFound", f'{what} "{name}" not found', {"name": name, "kind": kind})
    )


def no_resource() -> ApiError:
    return ApiError(status_body(404, "NotFound", "the server could not find the requested resource", {}))


# -- selectors ---------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def label_match(selector: str | None, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for req in _split_selector(selector):
        m = _SET_RE.match(req)
        if not m:
            raise ApiError(
                status_body(
                    400, "BadRequest", f"unable to parse requirement: invalid label selector: {req!r}"
                )
            )
        neg, key, op, val, setop, setvals = m.groups()
        if op in ("=", "=="):
            ok = labels.get(key) == val
        elif op == "!=":
            ok = labels.get(key) != val
        elif setop:
            values = {v.strip() for v in setvals.split(",")}
            ok = labels.get(key) in values if setop == "in" else labels.get(key) not in values
        else:
            ok = key in labels
        if neg:
            ok = not ok
        if not ok:
            return False
    return True


def field_match(selector: str | None, obj: dict[str, Any]) -> bool:
    if not selector:
        return True
    meta = obj.get("metadata", {})
    for req in selector.split(","):
        key, op, val = re.split(r"(==|!=|=)", req.strip(), maxsplit=1)
        have = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        if key not in have:
            raise ApiError(status_body(400, "BadRequest", f'"{key}" is not a known field selector'))
        equal = have[key] == val
        if (op == "!=" and equal) or (op != "!=" and not equal):
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if cur != op.get("value"):
                raise ApiError(status_body(422, "Invalid", f"the test operation on {op['path']} failed"))
        elif kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif kind == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        else:
            parent[last] = op["value"]
    return doc


# -- the CRD's structural schema: pruning and validation --------------------------------------

_CRD_SCHEMAS: dict[str, tuple[dict[str, Any], Any]] = {}


def crd_schema(path: Path) -> tuple[dict[str, Any], Any]:
    """(openAPIV3Schema, validator) of the storage version of the CRD in ``path`` (cached)."""
    key = str(path)
    if key not in _CRD_SCHEMAS:
        import jsonschema
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as f:
            crd = next(
                d
                for d in yaml.load_all(f, Loader=loader)
                if d and d.get("kind") == "CustomResourceDefinition"
            )
        versions = crd["spec"]["versions"]
        schema = next(v for v in versions if v.get("storage"))["schema"]["openAPIV3Schema"]
        _CRD_SCHEMAS[key] = (schema, jsonschema.Draft7Validator(schema))
    return _CRD_SCHEMAS[key]


def prune(obj: Any, schema: dict[str, Any], path: str, dropped: list[str]) -> None:
    """Drop fields the structural schema does not know, as the API server does (silently)."""
    if isinstance(obj, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for key in list(obj):
            sub = f"{path}.{key}"
            if props is not None and key in props:
                prune(obj[key], props[key], sub, dropped)
            elif isinstance(addl, dict):
                prune(obj[key], addl, sub, dropped)
            elif not keep_unknown and addl is not True:
                del obj[key]
                dropped.append(sub)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            prune(item, schema["items"], f"{path}[{i}]", dropped)


def structural_errors(obj: dict[str, Any], validator: Any) -> list[dict[str, str]]:
    """The API server's 422 causes for ``obj`` (CEL rules are not evaluated)."""
    causes = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        field = ""
        for part in err.absolute_path:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        causes.append(
            {"reason": "FieldValueInvalid", "message": f"Invalid value: {err.message}", "field": field}
        )
    return causes


# -- the store -----------------------------------------------------------------------------


@dataclass
class Event:
    rv: int
    kind: str  # resource plural, e.g. "workflows"
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]


@dataclass
class PodLog:
    path: Path
    done: Callable[[], bool]


class _Stamper:
    """``timestamps=true`` as the kubelet does it: each line after its RFC 3339 time and a
    space; the times are those the local engine recorded (``<node-id>.times``)."""

    def __init__(self, log: Path) -> None:
        from dflowctl.engines.local.logtimes import TimeIndex, times_path

        self.index = TimeIndex(times_path(log))
        self.pending = b""
        self.offset = 0  # of ``pending`` in the log

    def feed(self, data: bytes, *, final: bool) -> bytes:
        from dflowctl.engines.local.logtimes import stamp

        data = self.pending + data
        end = len(data) if final else data.rfind(b"\n") + 1
        self.pending = data[end:]
        out = []
        for line in data[:end].splitlines(keepends=True):
            when = self.index.time_at(self.offset)
            out.append(stamp(when or 0.0).encode() + b" " + line)
            self.offset += len(line)
        return b"".join(out)


@dataclass
class Store:
    """Objects keyed by (plural, namespace, name), an rv counter and recent events."""

    history_limit: int = 1000
    rv: int = 1
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    compacted: int = 0  # events with rv <= compacted are gone
    cond: threading.Condition = field(default_factory=threading.Condition)

    def _record(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        self.events.append(Event(self.rv, kind, type_, copy.deepcopy(obj)))
        if len(self.events) > self.history_limit:
            drop = len(self.events) - self.history_limit
            self.compacted = self.events[drop - 1].rv
            del self.events[:drop]
        self.cond.notify_all()

    def compact(self) -> None:
        """Forget all past events (as etcd compaction does): older watches get 410."""
        with self.cond:
            if self.events:
                self.compacted = self.events[-1].rv
                self.events.clear()

    def put(self, kind: str, ns: str, obj: dict[str, Any], *, event: str | None = None) -> dict[str, Any]:
        with self.cond:
            self.rv += 1
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.rv)
            if ns:
                meta["namespace"] = ns
            key = (kind, ns, meta["name"])
            existed = key in self.objects
            self.objects[key] = obj
            self._record(kind, event or ("MODIFIED" if existed else "ADDED"), obj)
            return copy.deepcopy(obj)

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get((kind, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def remove(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.pop((kind, ns, name), None)
            if obj is not None:
                self.rv += 1
                obj["metadata"]["resourceVersion"] = str(self.rv)
                self._record(kind, "DELETED", obj)
            return obj

    def items(self, kind: str, ns: str) -> list[dict[str, Any]]:
        with self.cond:
            return [
                copy.deepcopy(o) for (k, n, _), o in sorted(self.objects.items()) if k == kind and n == ns
            ]

    def update(self, kind: str, ns: str, name: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> dict:
        """Read-modify-write one object atomically (for the controller)."""
        with self.cond:
            cur = self.objects.get((kind, ns, name))
            if cur is None:
                raise not_found(kind, name, "argoproj.io" if kind == "workflows" else "")
            new = fn(copy.deepcopy(cur))
            return self.put(kind, ns, new)


# -- users and rules ---------------------------------------------------------------------------


@dataclass
class User:
    name: str
    allow: set[tuple[str, str]] | None = None  # (verb, resource) pairs; None = everything

    def can(self, verb: str, resource: str) -> bool:
        return self.allow is None or (verb, resource) in self.allow or ("*", resource) in self.allow


# -- the server ------------------------------------------------------------------------------


class FakeKube:
    """The stand-in API server. Start with ``start()``; ``url`` and ``token`` to connect."""

    def __init__(
        self, *, token: str | None = None, bookmark_interval: float = 1.0, crd: Path | None = None
    ) -> None:
        self.store = Store()
        self.crd = crd  # Argo's CRD file: objects are pruned and validated against it, as the API server does
        self.pruned: list[str] = []  # fields the API server would have dropped from what clients sent
        self.token = token or "dflowctl-test-" + uuid.uuid4().hex
        self.users: dict[str, User] = {self.token: User("system:serviceaccount:argo:dflowctl-admin")}
        self.namespaces: set[str] = set()
        self.pods: dict[tuple[str, str], PodLog] = {}
        self.bookmark_interval = bookmark_interval
        self.bookmarks: list[int] = []  # the resourceVersion of each bookmark sent, in order
        self.crd_installed = True
        self.delay = 0.0
        self.fail_next = 0
        self.fail_match = ""  # substring of "METHOD path?query"; "" matches all
        self.cut_watch_after: int | None = None
        self.cut_watches = 0  # how many watch streams to cut
        self.expire_next_watch = 0
        self.before_watch: Callable[[], None] | None = None  # called as each watch request starts
        self.stream_generation = 0  # bumped by drop_streams()
        self.request_log: list[str] = []
        self._log_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_namespace("default")

    # setup helpers
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def add_namespace(self, name: str) -> None:
        self.namespaces.add(name)
        self.store.put(
            "namespaces",
            "",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()},
                "status": {"phase": "Active"},
            },
        )

    def add_user(self, token: str, name: str, allow: set[tuple[str, str]] | None) -> None:
        self.users[token] = User(name, allow)

    def put_configmap(
        self, ns: str, name: str, data: dict[str, str], annotations: dict | None = None
    ) -> None:
        meta: dict[str, Any] = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()}
        if annotations:
            meta["annotations"] = annotations
        self.store.put(
            "configmaps", ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
        )

    def put_secret(self, ns: str, name: str, data: dict[str, bytes]) -> None:
        import base64

        enc = {k: base64.b64encode(v).decode() for k, v in data.items()}
        meta = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()}
        self.store.put(
            "secrets",
            ns,
            {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": enc},
        )

    def drop_streams(self) -> None:
        """Cut every open watch stream now (as an API server restart or a proxy would)."""
        with self.store.cond:
            self.stream_generation += 1
            self.store.cond.notify_all()

    def requests_matching(self, text: str) -> int:
        with self._log_lock:
            return sum(1 for r in self.request_log if text in r)

    def start(self) -> FakeKube:
        handler = type("Handler", (_Handler,), {"kube": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-kube", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def kubeconfig(self, path: Path, *, token: str | None = None, namespace: str | None = "argo") -> Path:
        """Write a kubeconfig for the real client (current context `fake`)."""
        ctx: dict[str, Any] = {"cluster": "fake", "user": "fake"}
        if namespace:
            ctx["namespace"] = namespace
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": ctx}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        return path


RESOURCE_RE = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


class _Handler(BaseHTTPRequestHandler):
    kube: FakeKube
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # plumbing
    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ApiError(status_body(400, "BadRequest", "the request body is not valid JSON")) from None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        k = self.kube
        parts = urlsplit(self.path)
        query = {key: vals[-1] for key, vals in parse_qs(parts.query).items()}
        with k._log_lock:
            k.request_log.append(f"{method} {unquote(self.path)}")
        body_read = False
        try:
            if k.delay:
                time.sleep(k.delay)
            user = self._auth()
            if k.fail_next > 0 and k.fail_match in f"{method} {self.path}":
                k.fail_next -= 1
                raise ApiError(
                    status_body(
                        500,
                        "InternalError",
                        "Internal error occurred: injected fault",
                        {"causes": [{"message": "injected fault"}]},
                    )
                )
            if method in ("POST", "PATCH", "PUT"):
                body = self._body()
                body_read = True
            else:
                body = None
            self._route(method, parts.path, query, body, user)
        except ApiError as err:
            if method in ("POST", "PATCH", "PUT") and not body_read:
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
            self._send_json(err.body["code"], err.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _auth(self) -> User:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        user = self.kube.users.get(token or "")
        if user is None:
            raise ApiError(status_body(401, "Unauthorized", "Unauthorized"))
        return user

    def _check(
        self, user: User, verb: str, resource: str, group: str, ns: str | None, name: str | None
    ) -> None:
        if user.can(verb, resource):
            return
        what = f"{resource.split('/')[0]}.{group}" if group else resource.split("/")[0]
        subject = f'{what} "{name}"' if name else what
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        msg = (
            f'{subject} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{where}'
        )
        details: dict[str, Any] = {"group": group, "kind": resource.split("/")[0]}
        if name:
            details["name"] = name
        raise ApiError(status_body(403, "Forbidden", msg, details))

    # routes
    def _route(self, method: str, path: str, query: dict[str, str], body: Any, user: User) -> None:
        k = self.kube
        if path == "/version":
            return self._send_json(
                200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-dflowctl-standin"}
            )
        if path == "/api":
            return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return self._send_json(200, self._group_list())
        if path == "/apis/argoproj.io/v1alpha1":
            if not k.crd_installed:
                raise no_resource()
            return self._send_json(200, self._argo_resources())
        if path == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/workflows.argoproj.io":
            self._check(user, "get", "customresourcedefinitions", "apiextensions.k8s.io", None, ARGO[2])
            if not k.crd_installed:
                raise not_found("customresourcedefinitions", "workflows.argoproj.io", "apiextensions.k8s.io")
            return self._send_json(200, self._crd())
        m = RESOURCE_RE.match(path)
        if not m:
            raise no_resource()
        group, version = m["group"] or "", m["version"] or "v1"
        ns, plural, name, sub = m["ns"], m["plural"], m["name"], m["sub"]
        if group == "argoproj.io":
            if not k.crd_installed or (version, plural) != ("v1alpha1", "workflows") or ns is None or sub:
                raise no_resource()
            return self._workflows(method, ns, name, query, body, user)
        if group:
            raise no_resource()
        if plural == "namespaces" and ns is None and name and not sub:
            self._check(user, "get", "namespaces", "", None, name)
            obj = k.store.get("namespaces", "", name)
            if obj is None:
                raise not_found("namespaces", name)
            return self._send_json(200, obj)
        if plural == "pods" and ns and name and sub == "log" and method == "GET":
            self._check(user, "get", "pods/log", "", ns, name)
            return self._pod_log(ns, name, query)
        if plural in ("configmaps", "secrets") and ns and name and not sub and method == "GET":
            self._check(user, "get", plural, "", ns, name)
            obj = k.store.get(plural, ns, name)
            if obj is None:
                raise not_found(plural, name)
            return self._send_json(200, obj)
        raise no_resource()

    def _group_list(self) -> dict[str, Any]:
        groups = [
            {
                "name": "apiextensions.k8s.io",
                "versions": [{"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"},
            }
        ]
        if self.kube.crd_installed:
            gv = {"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}
            groups.append({"name": "argoproj.io", "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _argo_resources(self) -> dict[str, Any]:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "argoproj.io/v1alpha1",
            "resources": [
                {
                    "name": "workflows",
                    "singularName": "workflow",
                    "namespaced": True,
                    "kind": "Workflow",
                    "verbs": [
                        "delete",
                        "deletecollection",
                        "get",
                        "list",
                        "patch",
                        "create",
                        "update",
                        "watch",
                    ],
                    "shortNames": ["wf"],
                }
            ],
        }

    def _crd(self) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "workflows.argoproj.io"},
            "spec": {
                "group": "argoproj.io",
                "names": {
                    "kind": "Workflow",
                    "listKind": "WorkflowList",
                    "plural": "workflows",
                    "singular": "workflow",
                },
                "scope": "Namespaced",
                "versions": [{"name": "v1alpha1", "served": True, "storage": True}],
            },
        }

    # workflows
    def _workflows(
        self, method: str, ns: str, name: str | None, query: dict[str, str], body: Any, user: User
    ) -> None:
        k = self.kube
        g = "argoproj.io"
        if name is None and method == "GET":
            verb = "watch" if query.get("watch") in ("true", "1") else "list"
            self._check(user, verb, "workflows", g, ns, None)
            if verb == "watch":
                return self._watch(ns, query)
            items = [
                o
                for o in k.store.items("workflows", ns)
                if label_match(query.get("labelSelector"), o["metadata"].get("labels") or {})
                and field_match(query.get("fieldSelector"), o)
            ]
            return self._send_json(
                200,
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "WorkflowList",
                    "metadata": {"resourceVersion": str(k.store.rv), "continue": ""},
                    "items": items,
                },
            )
        if name is None and method == "POST":
            self._check(user, "create", "workflows", g, ns, None)
            return self._create(ns, query, body)
        if name is None:
            raise ApiError(status_body(405, "MethodNotAllowed", "the server does not allow this method"))
        if method == "GET":
            self._check(user, "get", "workflows", g, ns, name)
            obj = k.store.get("workflows", ns, name)
            if obj is None:
                raise not_found("workflows", name, g)
            return self._send_json(200, obj)
        if method == "PATCH":
            self._check(user, "patch", "workflows", g, ns, name)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype not in ("application/merge-patch+json", "application/json-patch+json"):
                raise ApiError(
                    status_body(
                        415,
                        "UnsupportedMediaType",
                        f"the body of the request was in an unknown format - accepted "
                        f"media types include: application/json-patch+json, application/merge-patch+json, "
                        f"application/apply-patch+yaml (got {ctype})",
                    )
                )

            def apply(cur: dict[str, Any]) -> dict[str, Any]:
                if ctype == "application/json-patch+json":
                    new = json_patch(cur, body)
                else:
                    new = merge_patch(cur, body)
                new["metadata"]["name"] = name
                return self._admit(new, record=False)

            if query.get("dryRun") == "All":
                cur = k.store.get("workflows", ns, name)
                if cur is None:
                    raise not_found("workflows", name, g)
                return self._send_json(200, apply(cur))
            return self._send_json(200, k.store.update("workflows", ns, name, apply))
        if method == "DELETE":
            self._check(user, "delete", "workflows", g, ns, name)
            obj = k.store.remove("workflows", ns, name)
            if obj is None:
                raise not_found("workflows", name, g)
            return self._send_json(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": g,
                        "kind": "workflows",
                        "uid": obj["metadata"].get("uid"),
                    },
                },
            )
        raise ApiError(status_body(405, "MethodNotAllowed", "the server does not allow this method"))

    def _admit(self, obj: dict[str, Any], *, record: bool = True) -> dict[str, Any]:
        """Prune unknown fields and check the structural schema of the Workflow CRD (if given)."""
        k = self.kube
        if k.crd is None:
            return obj
        schema, validator = crd_schema(k.crd)
        meta = obj.pop("metadata", None)  # ObjectMeta is the server's own, not the CRD's schema
        dropped: list[str] = []
        prune(obj, schema, "", dropped)
        if meta is not None:
            obj["metadata"] = meta
        if record:
            k.pruned += [d.lstrip(".") for d in dropped if not d.startswith(".metadata")]
        causes = structural_errors(obj, validator)
        if causes:
            name = (obj.get("metadata") or {}).get("name") or ""
            text = ", ".join(f"{c['field']}: {c['message']}" for c in causes[:5])
            raise ApiError(
                status_body(
                    422,
                    "Invalid",
                    f'Workflow.argoproj.io "{name}" is invalid: {text}',
                    {"name": name, "group": "argoproj.io", "kind": "Workflow", "causes": causes},
                )
            )
        return obj

    def _create(self, ns: str, query: dict[str, str], body: Any) -> None:
        k = self.kube
        if not isinstance(body, dict) or body.get("kind") != "Workflow":
            raise ApiError(
                status_body(400, "BadRequest", "the object provided is unrecognized (must be a Workflow)")
            )
        if body.get("apiVersion") != "argoproj.io/v1alpha1":
            raise ApiError(
                status_body(
                    400,
                    "BadRequest",
                    f"the API version in the data ({body.get('apiVersion')}) does not "
                    "match the expected API version (argoproj.io/v1alpha1)",
                )
            )
        if ns not in k.namespaces:
            raise ApiError(
                status_body(
                    404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"}
                )
            )
        meta = body.setdefault("metadata", {})
        if not meta.get("name"):
            gen = meta.get("generateName")
            if not gen:
                raise ApiError(
                    status_body(
                        422,
                        "Invalid",
                        'Workflow.argoproj.io "" is invalid: metadata.name: Required value: '
                        "name or generateName is required",
                        {
                            "group": "argoproj.io",
                            "kind": "Workflow",
                            "causes": [
                                {
                                    "reason": "FieldValueRequired",
                                    "message": "Required value: name or generateName is required",
                                    "field": "metadata.name",
                                }
                            ],
                        },
                    )
                )
            meta["name"] = gen + "".join(random.choice(GENERATE_CHARS) for _ in range(5))
        name = meta["name"]
        if not isinstance(body.get("spec"), dict):
            raise ApiError(
                status_body(
                    422,
                    "Invalid",
                    f'Workflow.argoproj.io "{name}" is invalid: spec: Required value',
                    {"name": name, "group": "argoproj.io", "kind": "Workflow"},
                )
            )
        body = self._admit(body)
        meta = body["metadata"]
        meta["namespace"] = ns
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if query.get("dryRun") == "All":
            meta["resourceVersion"] = ""
            return self._send_json(201, body)
        with k.store.cond:
            if k.store.get("workflows", ns, name) is not None:
                raise ApiError(
                    status_body(
                        409,
                        "AlreadyExists",
                        f'workflows.argoproj.io "{name}" already exists',
                        {"name": name, "group": "argoproj.io", "kind": "workflows"},
                    )
                )
            obj = k.store.put("workflows", ns, body)
        self._send_json(201, obj)

    # streaming
    def _start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Drop the connection mid-stream (a torn chunk, then close), as a dying proxy would."""
        self.wfile.write(b'40\r\n{"type":')
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _watch(self, ns: str, query: dict[str, str]) -> None:
        k = self.kube
        store = k.store
        rv_text = query.get("resourceVersion") or ""
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        lsel, fsel = query.get("labelSelector"), query.get("fieldSelector")

        def matches(obj: dict[str, Any]) -> bool:
            return label_match(lsel, obj["metadata"].get("labels") or {}) and field_match(fsel, obj)

        matches({"metadata": {"name": "", "namespace": ns}})  # selector syntax errors before streaming
        if k.before_watch is not None:
            k.before_watch()
        generation = k.stream_generation
        cut_after = None
        if k.cut_watches > 0 and k.cut_watch_after is not None:
            k.cut_watches -= 1
            cut_after = k.cut_watch_after
        expire = False
        if k.expire_next_watch > 0 and rv_text not in ("", "0"):
            k.expire_next_watch -= 1
            expire = True
        self._start_chunked()
        with store.cond:
            current = store.rv
            if rv_text in ("", "0"):
                pending: list[tuple[str, dict[str, Any]]] = [
                    ("ADDED", o) for o in store.items("workflows", ns) if matches(o)
                ]
                last = current
            else:
                last = int(rv_text)
                pending = []
                if expire or last < store.compacted:
                    oldest = store.events[0].rv if store.events else current
                    err = status_body(410, "Expired", f"too old resource version: {last} ({oldest})")
                    self._chunk(json.dumps({"type": "ERROR", "object": err}).encode() + b"\n")
                    self._end_chunked()
                    return
        sent = 0
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + k.bookmark_interval
        try:
            while True:
                for type_, obj in pending:
                    if cut_after is not None and sent >= cut_after:
                        self._cut()
                        return
                    self._chunk(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
                    sent += 1
                pending = []
                if k.stream_generation != generation:
                    self._cut()
                    return
                with store.cond:
                    wait = min(deadline, next_bookmark) - time.monotonic()
                    if wait > 0 and not any(e.rv > last for e in store.events[-50:]):
                        store.cond.wait(timeout=wait)
                    if k.stream_generation != generation:
                        continue
                    if last < store.compacted:
                        err = status_body(
                            410, "Expired", f"too old resource version: {last} ({store.compacted})"
                        )
                        self._chunk(json.dumps({"type": "ERROR", "object": err}).encode() + b"\n")
                        self._end_chunked()
                        return
                    for ev in store.events:
                        if (
                            ev.rv > last
                            and ev.kind == "workflows"
                            and ev.obj["metadata"].get("namespace") == ns
                        ) and matches(ev.obj):
                            pending.append((ev.type, ev.obj))
                    if store.events:
                        last = max(last, store.events[-1].rv)
                    rv_now = store.rv
                if pending:
                    continue
                now = time.monotonic()
                if now >= deadline:
                    self._end_chunked()
                    return
                if bookmarks and now >= next_bookmark:
                    next_bookmark = now + k.bookmark_interval
                    mark = {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": "Workflow",
                            "apiVersion": "argoproj.io/v1alpha1",
                            "metadata": {"resourceVersion": str(rv_now)},
                        },
                    }
                    self._chunk(json.dumps(mark).encode() + b"\n")
                    k.bookmarks.append(rv_now)
                    last = max(last, rv_now)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return

    def _pod_log(self, ns: str, name: str, query: dict[str, str]) -> None:
        k = self.kube
        log = k.pods.get((ns, name))
        if log is None:
            raise not_found("pods", name)
        container = query.get("container")
        if container not in (None, "main"):
            raise ApiError(
                status_body(
                    400,
                    "BadRequest",
                    f"container {container} is not valid for pod {name}",
                )
            )
        follow = query.get("follow") in ("true", "1")
        stamps = _Stamper(log.path) if query.get("timestamps") in ("true", "1") else None
        if not follow:
            data = log.path.read_bytes() if log.path.is_file() else b""
            if stamps is not None:
                data = stamps.feed(data, final=True)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        offset = 0
        try:
            while True:
                done = log.done()
                data = log.path.read_bytes()[offset:] if log.path.is_file() else b""
                offset += len(data)
                if stamps is not None:
                    data = stamps.feed(data, final=done)
                if data:
                    self._chunk(data)
                if done:
                    self._end_chunked()
                    return
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
