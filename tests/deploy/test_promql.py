"""The rendered analysis queries, evaluated by Prometheus' own engine (``promtool test
rules``) on series shaped like keel serve's metrics: no sample at all until both versions
have served ``minRequests`` requests and have traffic in the window (so Argo never reads
``result[0]`` of an empty or ``NaN`` result), then the guardrail's value.

promtool comes from Debian's ``prometheus`` package; ``make test`` unpacks it into
``.tools/`` (set ``KEEL_PROMTOOL`` to use another). Without it this test is skipped
locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from keel.deploy import parse_spec, render

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
challenger:
  analysis:
    minRequests: 50
    guardrails:
      errorRate: {maxIncrease: 0.02}
      latencyP99: {maxRatio: 1.5, toleranceMs: 5}
      predictionDrift: false
"""
FLOOR = (
    "challenger: {analysis: {minRequests: 50, guardrails: {errorRate: false, latencyP99: false}}}"
)
BUCKETS = ("0.005", "0.01", "0.05", "0.1", "+Inf")


def promtool() -> str:
    found = (
        os.environ.get("KEEL_PROMTOOL")
        or shutil.which("promtool")
        or next(
            (str(p) for p in [ROOT / ".tools/prometheus/usr/bin/promtool"] if p.is_file()), None
        )
    )
    if found is None:
        pytest.skip("promtool is not installed: `make test` unpacks Debian's prometheus package")
    return found


def queries(text: str) -> dict[str, str]:
    """Each metric's query of the step template, with the versions Argo would pass."""
    spec = parse_spec(text, name="churn")
    *_, step = render(
        spec, to="argo-rollouts", image="keel:test", stable_version=1, canary_version=2
    )
    found = {}
    for metric in step["spec"]["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        query = query.replace("{{args.stable-version}}", "1").replace(
            "{{args.canary-version}}", "2"
        )
        found[metric["name"]] = query
    return found


def requests(version: str, ok: str, failed: str = "0x40") -> list[dict[str, str]]:
    """Counters by status, as keel serve exports them (one value per 15s scrape)."""
    labels = f'model="churn",version="{version}",route="/predict"'
    return [
        {"series": f'keel_requests_total{{{labels},status="200"}}', "values": ok},
        {"series": f'keel_requests_total{{{labels},status="500"}}', "values": failed},
    ]


def latency(version: str, slowest: str, per_scrape: int = 30) -> list[dict[str, str]]:
    """A histogram whose observations all fall in the bucket that ends at ``slowest``."""
    labels = f'model="churn",version="{version}",route="/predict"'
    reached = BUCKETS.index(slowest)
    return [
        {
            "series": f'keel_request_latency_seconds_bucket{{{labels},le="{le}"}}',
            "values": f"0+{per_scrape if i >= reached else 0}x40",
        }
        for i, le in enumerate(BUCKETS)
    ]


def case(series: list[dict[str, str]], expected: dict[str, float | None], text: str = SPEC) -> Any:
    found = queries(text)
    return {
        "interval": "15s",
        "input_series": series,
        "promql_expr_test": [
            {
                "expr": found[name],
                "eval_time": "5m",
                "exp_samples": [] if value is None else [{"labels": "{}", "value": value}],
            }
            for name, value in expected.items()
        ],
    }


STABLE = requests("1", "0+99x40", "0+1x40") + latency("1", "0.01")  # 1% errors, p99 ~10ms
NONE = {"error-rate-increase": None, "latency-p99-ratio": None}


def test_the_queries_give_no_sample_until_min_requests_then_the_guardrail(tmp_path: Path) -> None:
    tests = [
        # the canary has served nothing yet: no series at all
        case(STABLE, NONE),
        # the canary has served 20 requests in 5 minutes, under minRequests (50)
        case(STABLE + requests("2", "0+1x40") + latency("2", "0.01", 1), NONE),
        # 100 requests, then none in the last 2m window: no rate, no NaN, no sample
        case(STABLE + requests("2", "0+10x10 100x30") + latency("2", "0.01", 10), NONE),
        # enough traffic: 10% of the canary's requests fail against 1% of the stable's
        # (an increase of 0.09, in float arithmetic), and the canary's p99 is 10 times the stable's
        case(
            STABLE + requests("2", "0+9x40", "0+1x40") + latency("2", "0.1"),
            {"error-rate-increase": 1 / 10 - 1 / 100, "latency-p99-ratio": 10.0},
        ),
        # as fast as the stable version: the ratio reads 0 (within toleranceMs)
        case(
            STABLE + requests("2", "0+50x40") + latency("2", "0.01"),
            {"error-rate-increase": -0.01, "latency-p99-ratio": 0.0},
        ),
        # with no guardrail Prometheus can compute, the traffic floor alone
        case(STABLE + requests("2", "0+1x40"), {"requests": None}, FLOOR),
        case(STABLE + requests("2", "0+5x40"), {"requests": 1.0}, FLOOR),
    ]
    file = tmp_path / "analysis-test.yaml"
    file.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}))
    done = subprocess.run(
        [promtool(), "test", "rules", str(file)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
