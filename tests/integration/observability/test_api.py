"""The JSON API: runs with filters and paging, one run with stages and retries, alerts, SLOs,
status; by session or API token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.accounts import issue_api_token
from app.models import Alert, StageRun
from tests.integration.observability.ledger import run

T0 = datetime(2026, 7, 4, 12, tzinfo=UTC)


def _ledger(db) -> dict:
    rows = [
        run(
            T0 + timedelta(minutes=i),
            "failed" if i % 3 == 0 else "succeeded",
            pipeline="collection" if i % 2 else "analysis",
        )
        for i in range(12)
    ]
    parent = rows[3]
    retry = run(T0 + timedelta(minutes=30), "succeeded", pipeline=parent.pipeline, trigger="retry")
    retry.parent_run_id, retry.attempt = parent.id, 2
    stages = [
        StageRun(
            run_id=parent.id,
            stage="collect",
            status="failed",
            started_at=parent.started_at,
            error_type="AllSourcesFailed",
            error_message="demo: SourceTimeout",
            detail={"traceback": "Traceback ..."},
        ),
    ]
    with db.session() as s:
        s.add_all(rows)
        s.flush()
        s.add_all([retry, *stages])
    return {"parent": parent.id, "retry": retry.id}


def test_runs_filter_and_page(db, login_as) -> None:
    _ledger(db)
    client = login_as("viewer").http
    body = client.get("/api/runs?limit=5").json
    assert body["total"] == 13 and len(body["items"]) == 5 and body["next_offset"] == 5
    assert body["items"][0]["trigger"] == "retry"  # newest first
    last = client.get("/api/runs?limit=5&offset=10").json
    assert len(last["items"]) == 3 and last["next_offset"] is None
    failed = client.get("/api/runs?status=failed&pipeline=collection").json
    assert failed["total"] == 2 and {r["status"] for r in failed["items"]} == {"failed"}
    window = client.get(
        "/api/runs",
        query_string={
            "since": (T0 + timedelta(minutes=2)).isoformat(),
            "until": (T0 + timedelta(minutes=5)).isoformat(),
        },
    ).json
    assert window["total"] == 3
    both = client.get("/api/runs?pipeline=collection&pipeline=analysis&trigger=schedule").json
    assert both["total"] == 12


def test_bad_parameters_get_a_plain_400(login_as) -> None:
    client = login_as("viewer").http
    for query, word in (
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("status=exploded", "status"),
        ("since=yesterday", "since"),
        ("trigger=api", "trigger"),  # nothing writes it: not a trigger of the vocabulary
        ("pipeline=nope", "pipeline"),
    ):
        r = client.get(f"/api/runs?{query}")
        assert r.status_code == 400 and word in r.json["error"], query
    assert "dependency, fallback" in client.get("/api/runs?trigger=api").json["error"]
    assert client.get("/api/runs?trigger=fallback").status_code == 200
    assert client.get("/api/runs/not-a-uuid").status_code == 400
    assert client.get(f"/api/runs/{uuid.uuid4()}").status_code == 404


def test_one_run_with_stages_errors_and_retries(db, login_as) -> None:
    ids = _ledger(db)
    body = login_as("viewer").http.get(f"/api/runs/{ids['parent']}").json
    assert body["status"] == "failed" and body["stages"][0]["stage"] == "collect"
    assert body["errors"] == [
        {
            "stage": "collect",
            "error_type": "AllSourcesFailed",
            "error_message": "demo: SourceTimeout",
            "traceback": "Traceback ...",
        }
    ]
    assert [r["id"] for r in body["retries"]] == [str(ids["retry"])]
    child = login_as("viewer").http.get(f"/api/runs/{ids['retry']}").json
    assert child["parent_run_id"] == str(ids["parent"]) and child["attempt"] == 2


def test_alerts_slo_and_status(db, login_as) -> None:
    with db.session() as s:
        s.add(
            Alert(
                key="slo:pipeline_reliability:page",
                severity="page",
                title="burning",
                status="firing",
                fired_at=T0,
                last_seen_at=T0,
            )
        )
        s.add(
            Alert(
                key="slo:data_freshness:ticket",
                severity="ticket",
                title="old",
                status="resolved",
                fired_at=T0,
                last_seen_at=T0,
                resolved_at=T0,
            )
        )
    client = login_as("viewer").http
    assert [a["key"] for a in client.get("/api/alerts").json["items"]] == [
        "slo:pipeline_reliability:page"
    ]
    assert len(client.get("/api/alerts?status=all").json["items"]) == 2
    assert client.get("/api/alerts?status=resolved&severity=page").json["items"] == []
    slos = client.get("/api/slo").json["slos"]
    assert [s["name"] for s in slos] == [
        "pipeline_latency",
        "pipeline_reliability",
        "opportunity_detection",
        "data_freshness",
    ]
    assert slos[1]["target"] == 0.995 and set(slos[1]["burn_rates"]) == {
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
    }
    status = client.get("/api/status")
    assert status.status_code == 200 and status.json["status"] == "degraded"
    assert status.json["alerts"][0]["severity"] == "page"


def test_api_token_and_login_required(db, make_user, anon) -> None:
    name = make_user("viewer")
    with db.session() as s:
        token = issue_api_token(s, name)
    assert anon.http.get("/api/slo").status_code == 401
    r = anon.http.get("/api/slo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(r.json["slos"]) == 4
