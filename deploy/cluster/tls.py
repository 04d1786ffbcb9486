"""The HA stack's own certificate authority and the nodes' server certificates (openssl CLI).

A CA is generated at a stack's first start, its private key 0600 in a directory only the stack
can enter; each PostgreSQL node gets a certificate signed by it whose subjectAltNames are every
name a client dials (127.0.0.1 and localhost on the local stack; the node's own name and
`haproxy` in compose too), so clients verify the server with sslmode=verify-full and the CA
file. Keys are P-256 ECDSA: every client of the stack (libpq, Go's lib/pq) speaks it.
Certificates are issued once and kept; `renew` is deleting them before the next start.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from deploy.cluster.topology import Topology, node_server_names, node_tls_dir
from deploy.process import chown_to_server_user, find_binary, safe_dir, write_secret
from hotel_models.errors import HotelError

CA_DAYS = 3650
CERT_DAYS = 825  # the longest validity clients accept for a server certificate
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
# `openssl req` wants a config with a distinguished_name section; nothing else of the
# system's openssl.cnf may leak in (its v3_ca would make every certificate a CA).
_MINIMAL_CONFIG = "[req]\ndistinguished_name = dn\n[dn]\n"
OPENSSL_HINT = "apt-get install --no-install-recommends openssl"


def _openssl(*args: str, config: Path | None = None) -> str:
    argv = [find_binary("openssl", hint=OPENSSL_HINT), *args]
    if config is not None:
        argv[2:2] = ["-config", str(config)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise HotelError(f"openssl {args[0]} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def _new_key(path: Path) -> None:
    """A fresh private key, written 0600 from its first byte (never through a umask)."""
    write_secret(
        path, _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    )


def _req(*args: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "openssl.cnf"
        config.write_text(_MINIMAL_CONFIG)
        _openssl("req", "-new", "-x509", *args, config=config)


def ensure_ca(directory: Path, name: str = "hotel") -> Path:
    """The CA of the stack whose private directory is `directory` (created 0700); returns the
    CA certificate's path. An existing CA is kept: certificates it signed stay valid."""
    safe_dir(directory)
    cert, key = directory / CA_CERT, directory / CA_KEY
    if cert.is_file() and key.is_file():
        return cert
    for leftover in (cert, key):  # half made (interrupted): start the CA again
        leftover.unlink(missing_ok=True)
    _new_key(key)
    _req(
        "-key", str(key),
        "-subj", f"/CN={name} stack CA",
        "-days", str(CA_DAYS),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", str(cert),
    )  # fmt: skip
    return cert


def issue(directory: Path, name: str, names: Iterable[str]) -> tuple[Path, Path]:
    """`<name>.crt` and `<name>.key` in the CA's `directory`, signed by its CA, valid for every
    host name or IP address in `names` (server and client use: etcd peers are both)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    if cert.is_file() and key.is_file():
        return cert, key
    for leftover in (cert, key):
        leftover.unlink(missing_ok=True)
    sans = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in dict.fromkeys(names))
    _new_key(key)
    _req(
        "-key", str(key),
        "-CA", str(directory / CA_CERT),
        "-CAkey", str(directory / CA_KEY),
        "-subj", f"/CN={name}",
        "-days", str(CERT_DAYS),
        "-addext", f"subjectAltName={sans}",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
        "-addext", "extendedKeyUsage=serverAuth,clientAuth",
        "-out", str(cert),
    )  # fmt: skip
    return cert, key


def install(source: Path, target: Path) -> None:
    """Copy a certificate or key to where its server reads it, replacing an older copy (the
    key stays 0600: PostgreSQL refuses a key others can read)."""
    target.unlink(missing_ok=True)
    write_secret(target, source.read_text())


def provision(topo: Topology, ca_dir: Path) -> Path:
    """The stack's CA in `ca_dir` and every node's certificate, installed in the node's own
    home (server.crt, server.key, and ca.crt to verify its peers), owned by the server user.
    Returns the CA certificate."""
    ca = ensure_ca(ca_dir)
    for node in topo.nodes:
        cert, key = issue(ca_dir, node.name, node_server_names(topo, node))
        home, target = Path(node.home), Path(node_tls_dir(node))
        home.mkdir(parents=True, exist_ok=True)
        safe_dir(target)
        for source, name in ((cert, "server.crt"), (key, "server.key"), (ca, "ca.crt")):
            install(source, target / name)
        chown_to_server_user(home, target, *target.iterdir())
    return ca


def _is_ip(name: str) -> bool:
    return name.replace(".", "").isdigit() or ":" in name
