"""The test cluster's certificates and keys, made with ``openssl`` at start-up.

One CA signs: the API server's serving certificate (127.0.0.1, localhost and the
in-cluster names), the admin client (``system:masters``), the API server's
client certificate towards the kubelet, and the kubelet's serving certificate.
A separate RSA key signs service-account tokens.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cluster.layout import HOST

DAYS = "30"


def _ssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _key(name: str, d: Path) -> None:
    _ssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f"{name}.key", cwd=d)
    (d / f"{name}.key").chmod(0o600)


def _cert(d: Path, name: str, subject: str, ext: str) -> None:
    """Key ``name.key`` and certificate ``name.crt`` signed by ``ca``, with extensions ``ext``."""
    _key(name, d)
    _ssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _ssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        DAYS,
        "-sha256",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=d,
    )


def make(d: Path) -> None:
    """Write every key and certificate into ``d`` (which must be new or empty)."""
    d.mkdir(parents=True, exist_ok=True)
    _key("ca", d)
    ca_args = ("-key", "ca.key", "-subj", "/CN=dflowctl-test-ca", "-days", DAYS, "-out", "ca.crt")
    _ssl("req", "-x509", "-new", *ca_args, cwd=d)
    usage = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    server_ext = (
        usage + "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:{HOST},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    client_ext = usage + "extendedKeyUsage=clientAuth\n"
    _cert(d, "apiserver", "/CN=kube-apiserver", server_ext)
    _cert(d, "admin", "/O=system:masters/CN=dflowctl-admin", client_ext)
    _cert(d, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", client_ext)
    kubelet_ext = server_ext.replace("DNS:localhost,", "DNS:localhost,DNS:dflowctl-node,")
    _cert(d, "kubelet", "/CN=system:node:dflowctl-node", kubelet_ext)
    _key("sa", d)
    _ssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    for csr in d.glob("*.csr"):
        csr.unlink()
