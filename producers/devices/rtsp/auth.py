"""RTSP authentication as HTTP does it: Digest (RFC 7616, and RFC 2069/2617 servers without qop) and Basic (RFC 7617).

Digest is always preferred to Basic, which sends the password in the clear. Among Digest challenges the first
one with a supported algorithm wins, in the server's order (RFC 7616 section 3.7).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
PARAM_START = re.compile(rf"^({TOKEN})\s*=\s*")
SCHEME_START = re.compile(rf"^({TOKEN})(?:\s+(.*))?$", re.DOTALL)


class AuthError(ValueError):
    """A challenge this client cannot answer."""


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: "digest", "basic"
    params: dict[str, str] = field(default_factory=dict)  # keys in lower case, values unquoted

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper()

    @property
    def supported(self) -> bool:
        if self.scheme == "basic":
            return True
        if self.scheme != "digest" or "nonce" not in self.params:
            return False
        qops = self.qop_options
        return self.algorithm.removesuffix("-SESS") in HASHES and (not qops or bool({"auth", "auth-int"} & qops))

    @property
    def qop_options(self) -> set[str]:
        return {qop.strip().lower() for qop in self.params.get("qop", "").split(",") if qop.strip()}


def _split_outside_quotes(value: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_challenges(header_values: list[str]) -> list[Challenge]:
    """Every challenge in the WWW-Authenticate header values, in order (one value may hold several)."""
    found: list[tuple[str, dict[str, str]]] = []
    for value in header_values:
        for item in _split_outside_quotes(value):
            param = PARAM_START.match(item)
            if param and found:
                found[-1][1][param[1].lower()] = _unquote(item[param.end():])
                continue
            scheme = SCHEME_START.match(item)
            if not scheme:
                continue
            params: dict[str, str] = {}
            rest = (scheme[2] or "").strip()
            first = PARAM_START.match(rest)
            if first:
                params[first[1].lower()] = _unquote(rest[first.end():])
            found.append((scheme[1].lower(), params))
    return [Challenge(scheme, params) for scheme, params in found]


def choose_challenge(challenges: list[Challenge]) -> Challenge | None:
    digests = [c for c in challenges if c.scheme == "digest" and c.supported]
    if digests:
        return digests[0]
    return next((c for c in challenges if c.scheme == "basic"), None)


def basic_authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def digest_response(*, algorithm: str, username: str, realm: str, password: str, method: str, uri: str,
                    nonce: str, qop: str | None, nc: str, cnonce: str, entity_body: bytes = b"") -> str:
    """The request-digest of RFC 7616 section 3.4.1 (qop=None is the RFC 2069 form)."""
    base_algorithm = algorithm.upper().removesuffix("-SESS")
    if base_algorithm not in HASHES:
        raise AuthError(f"unsupported digest algorithm {algorithm}")
    digest = HASHES[base_algorithm]
    ha1 = digest(f"{username}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = digest(f"{ha1}:{nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + digest(entity_body)
    ha2 = digest(a2.encode())
    if qop is None:
        return digest(f"{ha1}:{nonce}:{ha2}".encode())
    return digest(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(challenge: Challenge, *, username: str, password: str, method: str, uri: str,
                  nonce_count: int = 1, cnonce: str | None = None) -> str:
    """The Authorization header value answering `challenge` for one request."""
    if challenge.scheme == "basic":
        return basic_authorization(username, password)
    if not challenge.supported:
        raise AuthError(f"cannot answer a {challenge.scheme} challenge with algorithm {challenge.algorithm}")
    params = challenge.params
    realm, nonce = params.get("realm", ""), params["nonce"]
    qops = challenge.qop_options
    qop = None if not qops else ("auth" if "auth" in qops else "auth-int")
    cnonce = cnonce or secrets.token_hex(16)
    nc = f"{nonce_count:08x}"
    hash_username = params.get("userhash", "").lower() == "true"
    shown_username = HASHES[challenge.algorithm.removesuffix("-SESS")](f"{username}:{realm}".encode()) \
        if hash_username else username
    response = digest_response(algorithm=challenge.algorithm, username=username, realm=realm, password=password,
                               method=method, uri=uri, nonce=nonce, qop=qop, nc=nc, cnonce=cnonce)
    parts = [f"username={_quote(shown_username)}", f"realm={_quote(realm)}", f"nonce={_quote(nonce)}",
             f"uri={_quote(uri)}", f"response={_quote(response)}"]
    if "algorithm" in params:
        parts.append(f"algorithm={params['algorithm']}")
    if qop:
        parts += [f"qop={qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
    if "opaque" in params:
        parts.append(f"opaque={_quote(params['opaque'])}")
    if hash_username:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)
