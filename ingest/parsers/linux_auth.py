"""Linux authentication log (``/var/log/auth.log``, ``secure``): sshd, sudo, su and PAM messages.

The same reading as the ``syslog`` parser (see ``ingest.parsers.syslog``); every event is in the
``system.auth`` dataset (Filebeat's name), whatever its program. ECS mapping follows Filebeat's
``system.auth``.
"""

from __future__ import annotations

from cert.core.ecs import Event
from cert.core.parser import parsers
from ingest.parsers._fields import put_event
from ingest.parsers.syslog import SyslogParser


@parsers.register
class LinuxAuthParser(SyslogParser):
    name = "linux.auth"
    dataset = "system.auth"
    module = "system"

    def parse(self, line: str) -> Event | None:
        ev = super().parse(line)
        if ev is not None:
            put_event(ev, dataset=self.dataset, module=self.module)
        return ev
