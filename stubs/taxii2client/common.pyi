from typing import Any

import requests

class _HTTPConnection:
    session: requests.Session
    def __init__(self, user: str | None = ..., password: str | None = ..., verify: bool | str = ...,
                 proxies: dict[str, str] | None = ..., user_agent: str = ..., version: str = ...,
                 auth: Any = ..., cert: Any = ...) -> None: ...
    def close(self) -> None: ...
