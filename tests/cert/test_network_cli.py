"""``cert token`` and ``cert listen`` as an operator runs them."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cert.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CERT_PLUGINS", "ingest.parsers,ingest.listeners")
    monkeypatch.setenv("CERT_SECRET_KEY", "test-secret-key")
    d = str(tmp_path / "data")
    assert main(["--data-dir", d, "init"]) == 0
    return d


def test_token_create_list_revoke(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--data-dir", data_dir, "token", "create", "dns-interieur", "--owner", "noc-interieur"]) == 0
    out = capsys.readouterr().out
    secret = next(line for line in out.splitlines() if line.startswith("vigie_"))
    assert len(secret) > 40
    assert main(["--data-dir", data_dir, "token", "create", "dns-interieur"]) == 2  # names are unique
    assert "already exists" in capsys.readouterr().err
    assert main(["--data-dir", data_dir, "token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "dns-interieur" in listing and "active" in listing and secret not in listing
    assert main(["--data-dir", data_dir, "token", "revoke", "dns-interieur"]) == 0
    assert main(["--data-dir", data_dir, "token", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "token", "revoke", "nobody"]) == 2


def test_token_of_an_organization(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--data-dir", data_dir, "token", "create", "soc-justice", "--organization", "min-justice"]) == 0
    assert "organisation Ministère de la Justice" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "token", "list"]) == 0
    assert "organization=min-justice" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "token", "create", "other", "--organization", "Ministère X"]) == 2
    assert "no organisation 'Ministère X' in the constituency" in capsys.readouterr().err


def test_token_scopes_and_expiry(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--data-dir", data_dir, "token", "create", "siem", "--scope", "ingest,read", "--expires", "90d"]) == 0
    out = capsys.readouterr().out
    expected = datetime.now(UTC) + timedelta(days=90)
    assert "scopes ingest,read" in out and f"expires {expected:%Y-%m-%d}" in out
    assert main(["--data-dir", data_dir, "token", "create", "forever", "--expires", "never"]) == 0
    assert "never expires" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "token", "create", "default"]) == 0
    assert "scopes ingest;" in capsys.readouterr().out  # the default scope
    assert main(["--data-dir", data_dir, "token", "create", "bad", "--scope", "ingest,root"]) == 2
    assert "Unknown token scope root" in capsys.readouterr().err
    assert main(["--data-dir", data_dir, "token", "create", "bad", "--expires", "soon"]) == 2
    assert "An expiry is a duration" in capsys.readouterr().err
    assert main(["--data-dir", data_dir, "token", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(rows) == {"siem", "forever", "default"}
    assert "scopes=ingest,read" in rows["siem"] and f"expires={expected:%Y-%m-%d}" in rows["siem"]
    assert "expires=never" in rows["forever"] and "used=never" in rows["forever"]
    assert all(row.split()[1] == "active" for row in rows.values())


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listen_receives_until_its_duration_ends(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_udp_port()
    message = b"<38>Feb 25 14:34:10 belka sshd[31602]: Failed password for root from 203.0.113.50 port 5 ssh2"
    stop = threading.Event()

    def send() -> None:  # until the listener is up and past it: duplicates are stored once
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                s.sendto(message, ("127.0.0.1", port))
                time.sleep(0.1)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        code = main(["--data-dir", data_dir, "listen", "syslog", "--udp", f"127.0.0.1:{port}", "--duration", "2",
                     "--flush-seconds", "0.2"])
    finally:
        stop.set()
        sender.join(5)
    out = capsys.readouterr().out
    assert code == 0 and f"syslog listener on udp://127.0.0.1:{port}" in out
    assert "1 events ingested" in out and "already stored" in out


def test_listen_refuses_what_a_listener_cannot_do(data_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", data_dir, "listen", "netflow", "--tcp", "127.0.0.1:2055"]) == 2
    assert "does not speak tcp" in capsys.readouterr().err
    assert main(["--data-dir", data_dir, "listen", "snmp", "--udp", "127.0.0.1:162"]) == 2
    assert "no listener named 'snmp'" in capsys.readouterr().err
    assert main(["--data-dir", data_dir, "listen", "syslog"]) == 2
    assert "at least one address" in capsys.readouterr().err
