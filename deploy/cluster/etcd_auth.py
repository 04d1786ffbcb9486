"""etcd's authentication, turned on at a stack's first start: without it anyone who reaches an
etcd client port can rewrite Patroni's keys (the leader key: a split brain on demand).

Through etcd's JSON gateway (/v3/auth/...), so no password ever shows in a process list:
`root` (etcd's administrator, needed to enable auth and to manage users) and Patroni's user,
whose role may read and write the keys under /service/ only. Idempotent: once root can log
in, auth is on and nothing is changed.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from deploy.cluster.topology import ETCD_ROOT, ETCD_USER, Credentials, Topology
from hotel_models.errors import HotelError

PREFIX = "/service/"  # Patroni's namespace


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def call(endpoint: str, path: str, body: dict[str, Any], token: str = "") -> tuple[int, Any]:
    """POST one request to etcd's gateway; (status, JSON answer), (0, reason) unreachable."""
    request = urllib.request.Request(  # noqa: S310 - the stack's own etcd
        f"{endpoint}/v3/{path}", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, TimeoutError, ValueError) as exc:
        return 0, str(exc)


def login(endpoint: str, user: str, password: str) -> str | None:
    """A token for `user`, or None (wrong password, or auth not enabled)."""
    status, answer = call(endpoint, "auth/authenticate", {"name": user, "password": password})
    return answer.get("token") if status == 200 and isinstance(answer, dict) else None


def enable_auth(topo: Topology, creds: Credentials) -> bool:
    """Create root and Patroni's user with its role, then enable auth; False if it was on."""
    endpoint = f"http://{topo.etcd[0].host}:{topo.etcd[0].client_port}"
    if login(endpoint, ETCD_ROOT, creds.etcd_root_password):
        return False
    if not creds.etcd_root_password or not creds.etcd_password:
        raise HotelError("etcd auth needs the root and the Patroni passwords")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("auth/user/add", {"name": ETCD_ROOT, "password": creds.etcd_root_password}),
        ("auth/role/add", {"name": "root"}),
        ("auth/user/grant", {"user": ETCD_ROOT, "role": "root"}),
        ("auth/user/add", {"name": ETCD_USER, "password": creds.etcd_password}),
        ("auth/role/add", {"name": ETCD_USER}),
        (
            "auth/role/grant",
            {
                "name": ETCD_USER,
                "perm": {
                    "permType": "READWRITE",
                    "key": _b64(PREFIX),
                    "range_end": _b64(PREFIX[:-1] + chr(ord(PREFIX[-1]) + 1)),
                },
            },
        ),
        ("auth/user/grant", {"user": ETCD_USER, "role": ETCD_USER}),
        ("auth/enable", {}),
    ]
    for path, body in steps:
        status, answer = call(endpoint, path, body)
        # A rerun after an interruption finds some of it done: "already exists" is fine.
        if status != 200 and "already exist" not in str(answer):
            raise HotelError(f"etcd {path} failed ({status}): {_reason(answer)}")
    return True


def _reason(answer: Any) -> str:
    if isinstance(answer, dict):
        return str(answer.get("message") or answer.get("error") or answer)
    return str(answer)
