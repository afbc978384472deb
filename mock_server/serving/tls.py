"""A throwaway certificate authority for ``imagen-mock serve --tls``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["TlsFiles", "make_certificates"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for the server and the CA that clients must trust."""

    cert_file: Path
    """Server certificate chain."""
    key_file: Path
    """Server private key."""
    ca_file: Path
    """CA certificate to give to clients (``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``)."""


def make_certificates(directory: Path, host: str, ca_file: Path | None = None) -> TlsFiles:
    """Create a CA and a server certificate for localhost, loopback and ``host``.

    Raises:
        OSError: if a file cannot be written.
    """
    ca = trustme.CA(organization_name="imagen-mock local CA")
    names = {"localhost", "127.0.0.1", "::1"}
    if host not in {"", "0.0.0.0", "::"}:  # noqa: S104 - recognising wildcard binds
        names.add(host)
    server = ca.issue_cert(*sorted(names))
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    server.private_key_pem.write_to_path(str(key_file))
    with cert_file.open("wb") as handle:
        for blob in server.cert_chain_pems:
            handle.write(blob.bytes())
    target = ca_file or directory / "ca.pem"
    target.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(target))
    return TlsFiles(cert_file=cert_file, key_file=key_file, ca_file=target)
