# The part of ldap3 (2.9) that playbooks/steps/disable_account.py uses (ldap3 ships no type information).
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

NONE: Final = "NO_INFO"
BASE: Final = "BASE"
SUBTREE: Final = "SUBTREE"
MODIFY_ADD: Final = "MODIFY_ADD"
MODIFY_DELETE: Final = "MODIFY_DELETE"
MODIFY_REPLACE: Final = "MODIFY_REPLACE"
AUTO_BIND_NONE: Final = "NONE"

#: one change of ``Connection.modify``: (MODIFY_*, values)
_Change = tuple[str, Sequence[str | bytes | int]]

class Tls:
    validate: int
    def __init__(self, local_private_key_file: str | None = ..., local_certificate_file: str | None = ...,
                 validate: int = ..., version: int | None = ..., ssl_options: list[int] | None = ...,
                 ca_certs_file: str | None = ..., valid_names: list[str] | None = ...,
                 ca_certs_path: str | None = ..., ca_certs_data: str | bytes | None = ...,
                 local_private_key_password: str | None = ..., ciphers: str | None = ...,
                 sni: str | None = ...) -> None: ...

class Server:
    host: str
    port: int
    ssl: bool
    name: str
    def __init__(self, host: str, port: int | None = ..., use_ssl: bool = ..., allowed_referral_hosts: Any = ...,
                 get_info: str = ..., tls: Tls | None = ..., formatter: Any = ...,
                 connect_timeout: float | None = ..., mode: str = ..., validator: Any = ...) -> None: ...

class Connection:
    server: Server
    user: str | None
    bound: bool
    closed: bool
    #: the last operation's answer: ``result`` (code), ``description``, ``message``, ``dn``...; None before any
    result: dict[str, Any] | None
    #: a search's answer: one dict per entry (``type`` "searchResEntry", ``dn``, ``attributes``) or referral
    response: list[dict[str, Any]] | None
    def __init__(self, server: Server | str, user: str | None = ..., password: str | None = ...,
                 auto_bind: str | bool = ..., version: int = ..., authentication: str | None = ...,
                 client_strategy: str = ..., auto_referrals: bool = ..., auto_range: bool = ...,
                 sasl_mechanism: str | None = ..., sasl_credentials: Any = ..., check_names: bool = ...,
                 collect_usage: bool = ..., read_only: bool = ..., lazy: bool = ..., raise_exceptions: bool = ...,
                 pool_name: str | None = ..., pool_size: int | None = ..., pool_lifetime: int | None = ...,
                 cred_store: Any = ..., fast_decoder: bool = ..., receive_timeout: float | None = ...,
                 return_empty_attributes: bool = ..., use_referral_cache: bool = ..., auto_escape: bool = ...,
                 auto_encode: bool = ..., pool_keepalive: int | None = ..., source_address: str | None = ...,
                 source_port: int | None = ..., source_port_list: list[int] | None = ...) -> None: ...
    def open(self, read_server_info: bool = ...) -> None: ...
    def start_tls(self, read_server_info: bool = ...) -> bool: ...
    def bind(self, read_server_info: bool = ..., controls: Any = ...) -> bool: ...
    def unbind(self, controls: Any = ...) -> bool: ...
    def search(self, search_base: str, search_filter: str, search_scope: str = ..., dereference_aliases: str = ...,
               attributes: Sequence[str] | str | None = ..., size_limit: int = ..., time_limit: int = ...,
               types_only: bool = ..., get_operational_attributes: bool = ..., controls: Any = ...,
               paged_size: int | None = ..., paged_criticality: bool = ..., paged_cookie: bytes | None = ...,
               auto_escape: bool | None = ...) -> bool: ...
    def modify(self, dn: str, changes: Mapping[str, Sequence[_Change]], controls: Any = ...) -> bool: ...
    def __enter__(self) -> Connection: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> bool | None: ...
