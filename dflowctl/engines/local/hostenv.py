"""Which of the host's environment variables pods and the fork server may see.

A pod gets the variables an op needs from the user's environment (locale, proxies,
an activated conda or virtualenv, ``LD_LIBRARY_PATH``, ``CUDA_VISIBLE_DEVICES``,
thread counts, CA bundles, ...) and never dflowctl's own secrets: ``DFLOWCTL_*``,
cloud and S3 keys, tokens, passwords, nor any variable whose value is one of the
settings' secrets. The fork server starts with the same environment (a pod could
read its ``/proc/$PPID/environ``). ``pod_env_pass`` / ``pod_env_deny`` (settings:
``DFLOWCTL_POD_ENV_PASS`` / ``DFLOWCTL_POD_ENV_DENY`` or the config file) add glob
patterns to the defaults; a deny always wins. docs/local-engine.md, "Environment".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

DEFAULT_PASS = (
    *("PATH", "HOME", "LANG", "LANGUAGE", "LC_*", "TZ", "USER", "LOGNAME"),
    *("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"),
    # environments an op may run in: conda, virtualenv, environment modules
    *("CONDA_*", "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "MODULEPATH", "LOADEDMODULES"),
    # libraries and devices
    *("LD_LIBRARY_PATH", "LIBRARY_PATH", "CUDA_*", "NVIDIA_*", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"),
    *("OMP_*", "MKL_*", "OPENBLAS_*", "NUMEXPR_*"),
    # certificates
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
)
DEFAULT_DENY = (
    *("DFLOWCTL_*", "KUBECONFIG", "AWS_*", "MINIO_*", "AZURE_*", "GOOGLE_APPLICATION_CREDENTIALS"),
    *("*SECRET*", "*TOKEN*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*", "*_KEY", "*_KEY_ID", "*APIKEY*"),
)


_HOST_ENVS: dict[tuple[object, tuple[tuple[object, object], ...]], dict[str, str]] = {}


@dataclass(frozen=True)
class EnvPolicy:
    passed: tuple[str, ...] = DEFAULT_PASS
    denied: tuple[str, ...] = DEFAULT_DENY
    secret_values: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, passed: Iterable[str] = (), denied: Iterable[str] = (), secrets: Iterable[str] = ()
    ) -> EnvPolicy:
        """The defaults plus these patterns; ``secrets``: values never passed, whatever the name."""
        return cls((*DEFAULT_PASS, *passed), (*DEFAULT_DENY, *denied), frozenset(v for v in secrets if v))

    def allows(self, name: str, value: str) -> bool:
        if any(fnmatchcase(name, p) for p in self.denied) or value in self.secret_values:
            return False
        return any(fnmatchcase(name, p) for p in self.passed)

    def host_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The host's variables a pod starts with (worked out once per host environment:
        every pod of a fan-out asks)."""
        source = os.environ if environ is None else environ
        key = (self, _items(source))
        found = _HOST_ENVS.get(key)
        if found is None:
            found = {k: v for k, v in source.items() if self.allows(k, v)}
            if len(_HOST_ENVS) > 16:
                _HOST_ENVS.clear()
            _HOST_ENVS[key] = found
        return dict(found)

    def server_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a fork server's interpreter starts in: the pods' host part,
        without what changes Python's start-up (each pod's own env is applied in its child)."""
        return {k: v for k, v in self.host_env(environ).items() if not k.startswith("PYTHON")}


def _items(source: Mapping[str, str]) -> tuple[tuple[object, object], ...]:
    """The variables of ``source`` as a key: ``os.environ``'s own encoded items (read
    without decoding each name and value, which costs more than the lookup it keys)."""
    data = getattr(source, "_data", None) if source is os.environ else None
    if isinstance(data, dict):
        return tuple(data.items())
    return tuple(source.items())


def policy_from_settings() -> EnvPolicy:
    """The policy of this user's settings (environment and config file)."""
    from dflowctl.settings import load_settings

    settings = load_settings()
    return EnvPolicy.of(settings.pod_env_pass, settings.pod_env_deny, settings.secrets())
