"""Playbooks on the production path: PostgreSQL for cases, Redis + rq for the job, and a real
``cert worker --burst`` process that builds its own platform from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq.job import Job
from sqlalchemy import select

from cert.core.config import Settings
from cert.demo import ingest_scenario
from cert.detection.run import run_detection
from cert.incidents.cases import add_observable, get_case, promote_alert
from cert.response.playbooks import Playbook, load_playbooks
from cert.response.runs import is_action, request_run
from cert.runtime.jobs import RqQueue
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Notification, PlaybookRun

WORKER_TIMEOUT = 120
ATTACKER_IP = "203.0.113.66"


@dataclass
class Production:
    platform: Platform
    settings: Settings
    env: dict[str, str]


@pytest.fixture
def production(tmp_path: Path, postgres_server, redis_server) -> Iterator[Production]:  # type: ignore[no-untyped-def]
    """A production-mode platform on a fresh database and a queue of its own; `cert init` done."""
    db_url = postgres_server.create_database()
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=db_url,
        redis_url=redis_server.url,
        rq_queue=f"vigie-test-{uuid.uuid4().hex[:8]}",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(
        CERT_DATA_DIR=str(settings.data_dir),
        CERT_DATABASE_URL=db_url,
        CERT_REDIS_URL=redis_server.url,
        CERT_RQ_QUEUE=settings.rq_queue,
        CERT_PLAYBOOKS_DIR=str(settings.playbooks_dir),
        CERT_RULES_DIR=str(settings.rules_dir),
    )
    platform = Platform(settings)
    assert settings.mode == "production"
    settings.data_dir.mkdir(parents=True)
    platform.db.upgrade()  # what `cert init` does
    try:
        yield Production(platform, settings, env)
    finally:
        jobs = platform.__dict__.get("jobs")
        if isinstance(jobs, RqQueue):
            jobs.queue.delete(delete_jobs=True)
            jobs.redis.close()
        platform.close()
        postgres_server.drop_database(db_url)


def brute_force_playbook(settings: Settings) -> Playbook:
    """The playbook for a brute force, as shipped in playbooks/ (sightings, then the focal point)."""
    books = load_playbooks(settings.playbooks_dir)
    candidates = [
        b
        for b in books.values()
        if [s.step for s in b.steps][:1] == ["sightings"]
        and "notify_focal_point" in [s.step for s in b.steps]
        and "brute" in b.id.lower()
        and not any(is_action(s.step) for s in b.steps)  # one that needs no approval
    ]
    assert candidates, (
        f"no brute-force playbook with sightings + notify_focal_point in {settings.playbooks_dir}"
    )
    return candidates[0]


def cert_command() -> list[str]:
    script = Path(sys.executable).with_name("cert")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cert.cli"]


def run_worker(prod: Production) -> subprocess.CompletedProcess[str]:
    """`cert worker --burst` as a separate process; it exits once the queue is empty."""
    proc = subprocess.run(
        [*cert_command(), "worker", "--burst"],
        env=prod.env,
        cwd=prod.settings.data_dir,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"worker exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def queue_run(prod: Production, case_id: int, playbook_id: str) -> tuple[int, str]:
    """Request the run and enqueue it, as the console does."""
    p = prod.platform
    with p.db.session() as s:
        run = request_run(p, s, get_case(s, case_id), playbook_id, "tester")
        run_id = run.id
    assert isinstance(p.jobs, RqQueue)
    job_id = p.jobs.enqueue("cert.response.runs.execute_run", run_id=run_id)
    with p.db.session() as s:
        s.get_one(PlaybookRun, run_id).job_id = job_id
    with p.db.session() as s:  # nothing ran yet: no worker in this process
        assert s.get_one(PlaybookRun, run_id).status == "queued"
    assert p.jobs.queue.count == 1
    return run_id, job_id


@pytest.mark.redis
@pytest.mark.postgres
def test_playbook_runs_on_a_real_rq_worker(production: Production) -> None:
    p = production.platform
    book = brute_force_playbook(production.settings)

    for _src, summary in ingest_scenario(p):
        assert summary.ingested > 0
    detection = run_detection(p)
    assert detection.alerts_new > 0

    with p.db.session() as s:
        alert = next(a for a in s.scalars(select(Alert)) if "Brute Force" in a.rule_title)
        evidence = p.events.get(alert.event_ids)
        assert evidence, "the alert's evidence events are in the embedded store"
        case = promote_alert(s, alert, evidence, "tester", p.constituency)
        case_id = case.id
        assert any(o.type == "ip" and o.value == ATTACKER_IP for o in case.observables)

    run_id, job_id = queue_run(production, case_id, book.id)
    worker = run_worker(production)

    job = Job.fetch(job_id, connection=p.jobs.redis)  # type: ignore[attr-defined]
    assert job.get_status() == "finished", f"{job.get_status()}\n{worker.stderr}"
    assert job.return_value() == "done"
    assert p.jobs.queue.count == 0  # type: ignore[attr-defined]

    with p.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert run.status == "done", f"{run.error}\n{worker.stderr}"
        assert run.error == "" and run.finished_at is not None and run.job_id == job_id
        assert [r["step"] for r in run.results] == [st.step for st in book.steps]
        assert all(r["status"] == "done" for r in run.results)

        timeline = get_case(s, case_id).timeline
        messages = [e.message for e in timeline]
        assert messages[1] == f"Playbook {book.id} (version {book.version}) queued"
        sightings = [e for e in timeline if e.message.startswith("[sightings]")]
        assert len(sightings) == 1 and ATTACKER_IP in sightings[0].message
        assert sightings[0].actor == f"playbook:{book.id}" and sightings[0].data["run_id"] == run_id
        seen = sightings[0].data["sightings"][f"ip:{ATTACKER_IP}"]
        assert seen["events"] > 0 and "Ministère de l'Intérieur" in seen["organizations"]
        notified = [e for e in timeline if e.message.startswith("[notify_focal_point]")]
        assert len(notified) == 1 and "Fatou Ndiaye" in notified[0].message

        # the worker queued the notification in the shared database
        (queued,) = [s.get_one(Notification, i) for i in notified[0].data["notifications"]]
        assert queued.recipient_email == "pf-cyber@interieur.gouv.example" and ATTACKER_IP in queued.body


@pytest.mark.redis
@pytest.mark.postgres
def test_failing_step_marks_the_run_failed(production: Production) -> None:
    p = production.platform
    book = brute_force_playbook(production.settings)
    with p.db.session() as s:
        alert = Alert(
            rule_id="test-orphan",
            rule_title="SSH Brute Force Against an Unknown Server",
            detector="sigma",
            severity="high",
            group_key=ATTACKER_IP,
            source_ip=ATTACKER_IP,
            organization="Agence sans point focal",  # not in the constituency
            event_ids=["none"],
            first_seen=datetime.now(UTC),
            last_seen=datetime.now(UTC),
        )
        s.add(alert)
        s.flush()
        case = promote_alert(s, alert, [], "tester", p.constituency)
        add_observable(s, case, "ip", ATTACKER_IP)
        case_id = case.id

    run_id, job_id = queue_run(production, case_id, book.id)
    worker = run_worker(production)

    job = Job.fetch(job_id, connection=p.jobs.redis)  # type: ignore[attr-defined]
    # the job itself succeeded: it is the playbook run that failed
    assert job.get_status() == "finished", f"{job.get_status()}\n{worker.stderr}"
    assert job.return_value() == "failed"

    with p.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert run.status == "failed"
        index = [st.step for st in book.steps].index("notify_focal_point") + 1
        assert run.error.startswith(f"step {index} (notify_focal_point): ")
        assert "no focal point known for the organisation Agence sans point focal" in run.error
        assert run.results[-1]["status"] == "failed" and run.finished_at is not None
        assert [r["status"] for r in run.results[:-1]] == ["done"] * (index - 1)

        timeline = get_case(s, case_id).timeline
        failed = [e for e in timeline if e.message.startswith("[notify_focal_point]")]
        assert len(failed) == 1
        assert "no focal point known for the organisation Agence sans point focal" in failed[0].message
        assert s.scalars(select(Notification)).all() == []


def test_worker_refuses_to_start_without_redis(tmp_path: Path) -> None:
    """`cert worker` in embedded mode is an error, not a worker polling nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env["CERT_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [*cert_command(), "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert "CERT_REDIS_URL" in proc.stderr
