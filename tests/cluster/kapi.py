"""A small JSON client of the Kubernetes API for the cluster scripts and the process kubelet.

Plain HTTPS with the admin client certificate (``requests``, which the
``kubernetes`` package brings): objects stay dicts, watches are read line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:500]}")
        self.status = status


class Api:
    def __init__(self, server: str, pki: Path) -> None:
        self.server = server.rstrip("/")
        self.session = requests.Session()
        # No proxy or CA bundle from the environment: the server is on loopback with our own CA.
        self.session.trust_env = False
        self.session.cert = (str(pki / "admin.crt"), str(pki / "admin.key"))
        self.session.verify = str(pki / "ca.crt")

    def request(
        self,
        method: str,
        path: str,
        body: Obj | list[Obj] | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        resp = self.session.request(
            method,
            self.server + path,
            data=data,
            params=params,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=timeout,
        )
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, resp.text)
        out: Obj = resp.json() if resp.content else {}
        return out

    def get(self, path: str, params: dict[str, str] | None = None) -> Obj:
        return self.request("GET", path, params=params)

    def create(self, path: str, body: Obj, exist_ok: bool = False) -> Obj:
        try:
            return self.request("POST", path, body)
        except ApiError as err:
            if exist_ok and err.status == 409:
                return body
            raise

    def merge_patch(self, path: str, body: Obj) -> Obj:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Obj | None = None) -> Obj:
        return self.request("DELETE", path, body)

    def watch(self, path: str, params: dict[str, str], timeout: int = 300) -> Iterator[Obj]:
        """Events of a watch from ``params['resourceVersion']``; ends when the server closes it."""
        query = {**params, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout)}
        with self.session.get(
            self.server + path, params=query, stream=True, timeout=(10, timeout + 30)
        ) as resp:
            if resp.status_code >= 400:
                raise ApiError(resp.status_code, resp.text)
            for line in resp.iter_lines():
                if line:
                    yield json.loads(line)
