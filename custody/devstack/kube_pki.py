"""Certificates, keys and kubeconfigs of the local Kubernetes control plane.

Everything is generated once into the stack's state directory with the
`cryptography` package: one certificate authority, a serving certificate for
the loopback API server and the controller manager and scheduler, one client
certificate per component, and the key pair that signs service-account tokens.
Keys are ECDSA P-256 (quick to generate, accepted by every component) and are
written with mode 0600. A set whose authority expires within a week is
replaced as a whole, because certificates of two authorities never mix.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custody.devstack.tools import exclusive_lock

log = logging.getLogger(__name__)

CLUSTER_NAME = "custody-dev"
VALIDITY = datetime.timedelta(days=825)
RENEW_BEFORE = datetime.timedelta(days=7)

# The first address of the service range, which the API server gives to the
# `kubernetes` Service. In-cluster clients verify the server by this address.
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

# Client identities: (file stem, user name, groups). system:masters bypasses
# RBAC, which the developer and the node simulator need; the controller
# manager and the scheduler get the names their built-in roles are bound to.
CLIENTS = (
    ("admin", "custody-admin", ("system:masters",)),
    ("controller-manager", "system:kube-controller-manager", ()),
    ("scheduler", "system:kube-scheduler", ()),
    ("kwok", "custody-kwok", ("system:masters",)),
)


@dataclass(frozen=True)
class Pki:
    """Paths of the generated files; `directory` holds them all."""

    directory: Path

    def crt(self, stem: str) -> Path:
        """Return the certificate path of `stem`, for example `ca` or `admin`."""
        return self.directory / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        """Return the private key path of `stem`."""
        return self.directory / f"{stem}.key"

    @property
    def service_account_key(self) -> Path:
        """Private key that signs service-account tokens (controller manager and API server)."""
        return self.directory / "service-account.key"

    @property
    def service_account_pub(self) -> Path:
        """Public key that verifies service-account tokens (API server)."""
        return self.directory / "service-account.pub"

    def kubeconfig(self, stem: str) -> Path:
        """Return the kubeconfig of the client `stem`; `admin` is the one for people."""
        return self.directory.parent / ("kubeconfig" if stem == "admin" else f"{stem}.kubeconfig")

    def all_files(self) -> list[Path]:
        """Return every file `ensure_pki` writes."""
        files = [self.crt("ca"), self.key("ca"), self.crt("serving"), self.key("serving")]
        files += [self.service_account_key, self.service_account_pub]
        for stem, _, _ in CLIENTS:
            files += [self.crt(stem), self.key(stem), self.kubeconfig(stem)]
        return files


def ensure_pki(directory: Path, *, server_url: str) -> Pki:
    """Create the certificates, keys and kubeconfigs unless a valid set exists; return their paths.

    `server_url` goes into every kubeconfig. A kubeconfig whose server differs
    (the port setting changed) is rewritten; the keys are kept.
    """
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(directory / ".pki.lock"):
        if not _is_complete(pki):
            _generate(pki)
        for stem, _, _ in CLIENTS:
            _write_kubeconfig(pki, stem, server_url)
    return pki


def _is_complete(pki: Pki) -> bool:
    if not all(path.exists() for path in pki.all_files() if path.suffix != ".kubeconfig" and path.name != "kubeconfig"):
        return False
    try:
        ca = x509.load_pem_x509_certificate(pki.crt("ca").read_bytes())
    except ValueError:
        return False
    return ca.not_valid_after_utc - _now() > RENEW_BEFORE


def _generate(pki: Pki) -> None:
    log.info("generating the control-plane certificates and keys in %s", pki.directory)

    # Step 1: the authority that signs every other certificate.
    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{CLUSTER_NAME}-ca")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(pki, "ca", ca_cert, ca_key)

    # Step 2: one serving certificate for every TLS port on loopback.
    serving_key = _new_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVING_DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1", KUBERNETES_SERVICE_IP)]
    serving_cert = (
        _leaf(ca_cert, ca_key, serving_key, common_name="kube-apiserver", usage=ExtendedKeyUsageOID.SERVER_AUTH)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(pki, "serving", serving_cert, serving_key)

    # Step 3: a client certificate per component.
    for stem, user, groups in CLIENTS:
        client_key = _new_key()
        client_cert = _leaf(
            ca_cert, ca_key, client_key, common_name=user, groups=groups, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        ).sign(ca_key, hashes.SHA256())
        _write_pair(pki, stem, client_cert, client_key)

    # Step 4: the service-account token signing pair.
    sa_key = _new_key()
    _write_private(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    # Backdated by an hour so that a clock a little behind still accepts the certificates.
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    usage: x509.ObjectIdentifier,
    groups: tuple[str, ...] = (),
) -> x509.CertificateBuilder:
    # Kubernetes reads the user from the common name and the groups from the organizations.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return (
        _builder(x509.Name(attributes), ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )


def _write_pair(pki: Pki, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    _write_private(pki.key(stem), key)
    pki.crt(stem).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created with mode 0600 from the start, so the key is never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


def _write_kubeconfig(pki: Pki, stem: str, server_url: str) -> None:
    user = next(name for client_stem, name, _ in CLIENTS if client_stem == stem)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server_url, "certificate-authority-data": _b64(pki.crt("ca"))}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(pki.crt(stem)), "client-key-data": _b64(pki.key(stem))},
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user, "namespace": "default"}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    text = "# Written by custody.devstack.kube_pki; it embeds a private key.\n" + yaml.safe_dump(document, sort_keys=False)
    path = pki.kubeconfig(stem)
    if path.exists() and path.read_text() == text:
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
