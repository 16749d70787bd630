from pathlib import Path

import pytest

from cert.core.config import Settings, load_settings
from cert.core.errors import ConfigError, InvalidInput
from cert.core.tlp import PAP, TLP


def test_environment_overrides_file_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "vigie.toml"
    cfg.write_text('data_dir = "/srv/vigie"\norg_name = "CERT-XX"\nalert_suppression_minutes = 30\n')
    s = load_settings(cfg, env={"CERT_ORG_NAME": "CERT national", "CERT_SHARE_TLP_CEILING": "green"})
    assert s.data_dir == Path("/srv/vigie") and s.org_name == "CERT national"
    assert s.alert_suppression_minutes == 30 and s.share_tlp_ceiling is TLP.GREEN
    assert s.mode == "embedded"
    prod = load_settings(env={"CERT_DATABASE_URL": "postgresql+psycopg://vigie:s3cret@db/vigie"})
    assert prod.mode == "production"
    assert "s3cret" not in str(prod.redacted())


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "vigie.toml"
    cfg.write_text("datadir = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*datadir"):
        load_settings(cfg, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="alert_suppression_minutes"):
        load_settings(env={"CERT_ALERT_SUPPRESSION_MINUTES": "soon"})


def test_tlp_labels_and_ceilings() -> None:
    assert TLP.parse("TLP:WHITE") is TLP.CLEAR
    assert TLP.parse("amber+strict").machine_tag == "tlp:amber+strict"
    assert TLP.AMBER.allows(TLP.GREEN) and not TLP.AMBER.allows(TLP.RED)
    assert PAP.parse("pap:red") is PAP.RED
    with pytest.raises(InvalidInput):
        TLP.parse("purple")


def test_tlp_labels_match_the_misp_taxonomy(corpora: Path) -> None:
    import json

    tax = json.loads((corpora / "misp" / "taxonomies" / "tlp" / "machinetag.json").read_text())
    values = {e["value"] for p in tax["values"] for e in p["entry"]} if "values" in tax else set()
    values |= {p["value"] for p in tax.get("predicates", [])}
    for label in TLP:
        assert label.tag_value in values


def test_session_settings_default_to_secure_and_come_from_the_environment() -> None:
    from datetime import timedelta

    from cert.accounts.sessions import SessionPolicy

    defaults = load_settings(env={})
    assert defaults.session_cookie_secure is True
    assert SessionPolicy.from_settings(defaults) == SessionPolicy(timedelta(minutes=30), timedelta(hours=12))
    s = load_settings(env={"CERT_SESSION_IDLE_MINUTES": "5", "CERT_SESSION_MAX_HOURS": "0",
                           "CERT_SESSION_COOKIE_SECURE": "false", "CERT_PASSWORD_MIN_LENGTH": "16"})
    assert (s.session_idle_minutes, s.session_cookie_secure, s.password_min_length) == (5, False, 16)
    assert SessionPolicy.from_settings(s) == SessionPolicy(timedelta(minutes=5), None)  # 0: no absolute limit


def _key_of(data_dir: str) -> str:
    return Settings(data_dir=Path(data_dir), secret_key="").effective_secret_key()


def test_processes_starting_at_once_share_one_generated_secret_key(tmp_path: Path) -> None:
    """Web workers of an embedded install started together sign sessions and TAXII paging with the
    same key: the first to write it wins, the others read it."""
    import multiprocessing

    data_dir = tmp_path / "data"
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        keys = pool.map(_key_of, [str(data_dir)] * 12)
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]
