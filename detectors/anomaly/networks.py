"""Which addresses are internal: the sources the network anomaly detectors watch.

Internal means private or local (RFC 1918, shared address space, RFC 4193 unique local, link
local, loopback), one of the constituency's networks (its organisations' ``networks``), or one of
the networks of the ``anomaly_internal_networks`` setting (a monitored network on public
addresses, as a university's or a ministry's often is).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cert.constituency.directory import Constituency
from cert.core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: private and local ranges, always internal
PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128"))


def _address(value: Any) -> Address | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


class Networks:
    """The internal networks, and a cached test of addresses against them."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(PRIVATE) + tuple(networks)
        self._cache: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> Networks:
        """Private ranges, the constituency's networks and ``anomaly_internal_networks``."""
        nets: list[Network] = []
        for text in getattr(settings, "anomaly_internal_networks", ()) or ():
            try:
                nets.append(ipaddress.ip_network(str(text).strip(), strict=False))
            except ValueError as exc:
                raise ConfigError(f"setting 'anomaly_internal_networks': {text!r} is no network: {exc}") from exc
        constituency_file = getattr(settings, "constituency_file", None)
        if constituency_file is not None:
            for org in Constituency.load(constituency_file).organizations:
                nets.extend(org.networks)
        return cls(nets)

    def internal(self, value: Any) -> bool:
        """Whether ``value`` is an address of an internal network (anything else: False)."""
        key = value if isinstance(value, str) else repr(value)
        found = self._cache.get(key)
        if found is None:
            address = _address(value)
            found = address is not None and any(
                address.version == net.version and address in net for net in self.networks)
            if len(self._cache) >= 1 << 18:
                self._cache.clear()
            self._cache[key] = found
        return found

    def mask(self, column: pd.Series) -> np.ndarray:
        """For each value of ``column``, whether it is internal (one test per distinct value)."""
        import numpy as np
        import pandas as pd

        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        flags = np.array([self.internal(u) for u in uniques] + [False], dtype=bool)
        return flags[codes]


def multicast(value: Any) -> bool:
    """Multicast and broadcast destinations: periodic by protocol design (neighbour discovery,
    service announcements), never a beacon's server."""
    address = _address(value)
    if address is None:
        return False
    return bool(address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"))
