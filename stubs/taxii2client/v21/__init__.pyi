from collections.abc import Callable, Iterator
from typing import Any

from taxii2client.common import _HTTPConnection

def as_pages(func: Callable[..., dict[str, Any]], per_request: int = ..., *args: Any,
             **kwargs: Any) -> Iterator[dict[str, Any]]: ...

class Status:
    status: str
    total_count: int
    success_count: int
    failure_count: int

class Collection:
    url: str
    id: str
    title: str
    can_read: bool
    can_write: bool
    def __init__(self, url: str, conn: _HTTPConnection | None = ..., user: str | None = ...,
                 password: str | None = ..., verify: bool | str = ..., proxies: dict[str, str] | None = ...,
                 collection_info: dict[str, Any] | None = ..., auth: Any = ..., cert: Any = ...) -> None: ...
    def get_objects(self, accept: str = ..., **filter_kwargs: Any) -> dict[str, Any]: ...
    def add_objects(self, envelope: dict[str, Any] | str, wait_for_completion: bool = ...,
                    poll_interval: int = ..., timeout: int = ..., accept: str = ...,
                    content_type: str = ...) -> Status: ...
