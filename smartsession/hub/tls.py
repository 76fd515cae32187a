"""The hub's self-signed TLS certificate: made on first start, reused afterwards.

``cert = load_or_create(folder, hub_id)`` returns the certificate files and the SHA-256
fingerprint (hex, of the DER certificate) that goes into the zeroconf TXT record and into
both HMAC proofs; `server_context` turns it into an `ssl.SSLContext` for the server. Agents
do not verify a CA: the proofs bind the fingerprint they saw, so a man in the middle with
another certificate cannot authenticate to either side.

The key file is created owner-only (0600); a key file that others can read is refused with
a `HubError` that says how to fix it.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smartsession.errors import HubError
from smartsession.files import private_folder

log = logging.getLogger(__name__)

CERT_FILE = "hub-cert.pem"
KEY_FILE = "hub-key.pem"
#: How long a new certificate is valid (agents do not check dates; this is for other tools).
VALID_DAYS = 3650


@dataclass(frozen=True)
class HubCertificate:
    """Where the certificate and key live, and the certificate's SHA-256 fingerprint (hex)."""

    cert_path: Path
    key_path: Path
    fingerprint: str


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate, lowercase hex (what TXT ``fp`` and the proofs carry)."""
    return hashlib.sha256(der).hexdigest()


def load_or_create(folder: Path, hub_id: str) -> HubCertificate:
    """Reuse the certificate in ``folder``, or make a new one (EC P-256, self-signed).

    Raises `HubError` when the files cannot be read or written, or the key is not owner-only.
    """
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    try:
        if not (cert_path.exists() and key_path.exists()):
            _create(folder, cert_path, key_path, hub_id)
        _check_owner_only(key_path)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise HubError(f"cannot use the TLS certificate in {folder}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise HubError(f"the TLS certificate {cert_path} is damaged ({exc}); delete both files") from exc
    fingerprint = fingerprint_of(cert.public_bytes(serialization.Encoding.DER))
    return HubCertificate(cert_path, key_path, fingerprint)


def server_context(cert: HubCertificate) -> ssl.SSLContext:
    """An `ssl.SSLContext` serving ``cert`` (TLS 1.2 or newer)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert.cert_path, cert.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise HubError(f"cannot load the TLS certificate {cert.cert_path}: {exc}") from exc
    return context


def _create(folder: Path, cert_path: Path, key_path: Path, hub_id: str) -> None:
    private_folder(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"smartsession hub {hub_id}"[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("made a new self-signed TLS certificate in %s", folder)


def _check_owner_only(key_path: Path) -> None:
    if os.name == "posix" and key_path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HubError(f"the TLS key {key_path} is readable by others; run: chmod 600 {key_path}")
