"""SNMP credentials: a v2c community or a v3 USM user, mapped to pysnmp 7's CommunityData / UsmUserData.

Secrets (community, auth and privacy keys) are left out of repr() so a log line or a traceback never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_AUTH_NONE,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    UsmUserData,
)


class AuthProtocol(StrEnum):
    none = "none"
    md5 = "MD5"
    sha = "SHA"
    sha224 = "SHA-224"
    sha256 = "SHA-256"
    sha384 = "SHA-384"
    sha512 = "SHA-512"


class PrivProtocol(StrEnum):
    none = "none"
    des = "DES"
    aes128 = "AES-128"
    aes192 = "AES-192"
    aes256 = "AES-256"


_AUTH = {
    AuthProtocol.none: USM_AUTH_NONE,
    AuthProtocol.md5: USM_AUTH_HMAC96_MD5,
    AuthProtocol.sha: USM_AUTH_HMAC96_SHA,
    AuthProtocol.sha224: USM_AUTH_HMAC128_SHA224,
    AuthProtocol.sha256: USM_AUTH_HMAC192_SHA256,
    AuthProtocol.sha384: USM_AUTH_HMAC256_SHA384,
    AuthProtocol.sha512: USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    PrivProtocol.none: USM_PRIV_NONE,
    PrivProtocol.des: USM_PRIV_CBC56_DES,
    PrivProtocol.aes128: USM_PRIV_CFB128_AES,
    PrivProtocol.aes192: USM_PRIV_CFB192_AES,
    PrivProtocol.aes256: USM_PRIV_CFB256_AES,
}


class CredentialsError(ValueError):
    """Credentials that cannot work (a key without its protocol, privacy without authentication, a short key)."""


@dataclass(frozen=True)
class V2cCredentials:
    community: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.community:
            raise CredentialsError("an SNMPv2c community must not be empty")

    def auth_data(self) -> CommunityData:
        # the community index names a pysnmp LCD row; one row per community, shared by devices that use it
        return CommunityData(self.community, mpModel=1)

    def context(self) -> ContextData:
        return ContextData()


@dataclass(frozen=True)
class V3Credentials:
    user: str
    auth_protocol: AuthProtocol = AuthProtocol.none
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: PrivProtocol = PrivProtocol.none
    priv_key: str | None = field(default=None, repr=False)
    context_name: str = ""

    def __post_init__(self) -> None:
        if not self.user:
            raise CredentialsError("an SNMPv3 user name must not be empty")
        if (self.auth_protocol is AuthProtocol.none) != (self.auth_key is None):
            raise CredentialsError("an SNMPv3 auth key and auth protocol go together")
        if (self.priv_protocol is PrivProtocol.none) != (self.priv_key is None):
            raise CredentialsError("an SNMPv3 privacy key and privacy protocol go together")
        if self.priv_key is not None and self.auth_key is None:
            raise CredentialsError("SNMPv3 privacy needs authentication (there is no noAuthPriv level)")
        for key in (self.auth_key, self.priv_key):
            if key is not None and len(key) < 8:
                raise CredentialsError("SNMPv3 pass phrases must be at least 8 characters (RFC 3414)")

    @property
    def security_level(self) -> str:
        if self.priv_key is not None:
            return "authPriv"
        return "authNoPriv" if self.auth_key is not None else "noAuthNoPriv"

    def auth_data(self) -> UsmUserData:
        return UsmUserData(self.user, authKey=self.auth_key, privKey=self.priv_key,
                           authProtocol=_AUTH[self.auth_protocol], privProtocol=_PRIV[self.priv_protocol])

    def context(self) -> ContextData:
        return ContextData(contextName=self.context_name.encode())


Credentials = V2cCredentials | V3Credentials
