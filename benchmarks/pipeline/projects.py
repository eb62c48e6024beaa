"""The benchmark's projects: the same 10-step pipeline for Keel and for DVC, and a parallel one.

The linear pipeline reads a small CSV (1,000 rows) and passes its rows through ten steps:
load, clean, derive, standardize, clip, bucket, order, dedupe, aggregate, summarize. Keel
gets one Python file of ``@keel.step`` functions with two pipelines: ``pipe`` (all ten) and
``one`` (the first step only, to separate the fixed cost of a run from the per-step cost).
Two Keel flavours: ``json`` (rows as JSON, standard library only: the same code the DVC
scripts run) and ``frames`` (Polars frames under ``keel.Schema`` contracts, checked at each
handoff). DVC gets ten scripts ``stepNN_name.py`` doing the JSON flavour's work, file to
file, wired in a ``dvc.yaml``. The parallel pipeline is four independent steps that sleep.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STEPS", "write_dvc", "write_input", "write_keel", "write_parallel"]

INPUT = "data/input.csv"


@dataclass(frozen=True)
class StepCode:
    name: str
    argument: str  # the parameter's name (its type follows from the previous step)
    returns: str  # "rows" or "metrics"
    json_body: str
    frame_body: str


STEPS = (
    StepCode(
        "load",
        "source",
        "rows",
        """
        with source.open(newline="") as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        """,
        "return Raw.validate(pl.read_csv(source))",
    ),
    StepCode(
        "clean",
        "rows",
        "rows",
        'return [r for r in rows if r["a"] >= 0 and r["b"] >= 0]',
        'return Raw.validate(rows.to_polars().filter((pl.col("a") >= 0) & (pl.col("b") >= 0)))',
    ),
    StepCode(
        "derive",
        "rows",
        "rows",
        'return [{**r, "ratio": r["a"] / (r["b"] + 1.0)} for r in rows]',
        """
        frame = rows.to_polars().with_columns(
            ratio=pl.col("a") / (pl.col("b") + 1.0), z=pl.lit(0.0), bucket=pl.lit(0)
        )
        return Scored.validate(frame)
        """,
    ),
    StepCode(
        "standardize",
        "rows",
        "rows",
        """
        mean = statistics.fmean(r["a"] for r in rows)
        sd = statistics.pstdev(r["a"] for r in rows) or 1.0
        return [{**r, "z": (r["a"] - mean) / sd} for r in rows]
        """,
        """
        a = pl.col("a")
        return Scored.validate(rows.to_polars().with_columns(z=(a - a.mean()) / a.std(ddof=0)))
        """,
    ),
    StepCode(
        "clip",
        "rows",
        "rows",
        'return [{**r, "z": max(-3.0, min(3.0, r["z"]))} for r in rows]',
        'return Scored.validate(rows.to_polars().with_columns(z=pl.col("z").clip(-3.0, 3.0)))',
    ),
    StepCode(
        "bucket",
        "rows",
        "rows",
        'return [{**r, "bucket": float(min(int(r["ratio"] * 4), 9))} for r in rows]',
        """
        buckets = (pl.col("ratio") * 4).cast(pl.Int64).clip(upper_bound=9)
        return Scored.validate(rows.to_polars().with_columns(bucket=buckets))
        """,
    ),
    StepCode(
        "order",
        "rows",
        "rows",
        'return sorted(rows, key=lambda r: (r["group"], r["id"]))',
        'return Scored.validate(rows.to_polars().sort("group", "id"))',
    ),
    StepCode(
        "dedupe",
        "rows",
        "rows",
        """
        seen: set[float] = set()
        kept = []
        for r in rows:
            if r["id"] not in seen:
                seen.add(r["id"])
                kept.append(r)
        return kept
        """,
        """
        frame = rows.to_polars().unique("id", keep="first", maintain_order=True)
        return Scored.validate(frame)
        """,
    ),
    StepCode(
        "aggregate",
        "rows",
        "metrics",
        """
        groups: dict[str, list[float]] = {}
        for r in rows:
            groups.setdefault(f"group_{int(r['group'])}", []).append(r["z"])
        return {name: statistics.fmean(values) for name, values in sorted(groups.items())}
        """,
        """
        means = rows.to_polars().group_by("group").agg(pl.col("z").mean()).sort("group")
        return {f"group_{g}": float(z) for g, z in means.iter_rows()}
        """,
    ),
    StepCode(
        "summarize",
        "groups",
        "metrics",
        """
        values = list(groups.values())
        return {
            "groups": float(len(values)),
            "low": min(values),
            "high": max(values),
            "spread": max(values) - min(values),
        }
        """,
        "",  # the same as the JSON flavour's
    ),
)

_JSON_HEADER = '''\
"""A 10-step pipeline over rows of JSON (standard library only)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import keel

Rows = list[dict[str, float]]
'''

_FRAME_HEADER = '''\
"""A 10-step pipeline over Polars frames, each handoff under a contract."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import keel


class Raw(keel.Schema):
    id: keel.Column[int]
    a: keel.Column[float]
    b: keel.Column[float]
    group: keel.Column[int] = keel.Field(ge=0, le=4)


class Scored(Raw):
    ratio: keel.Column[float]
    z: keel.Column[float]
    bucket: keel.Column[int] = keel.Field(ge=0, le=9)
'''


def _types(flavour: str, index: int) -> tuple[str, str]:
    """The annotation of step ``index``'s parameter and of what it returns."""
    rows = "Rows" if flavour == "json" else "keel.Frame[Scored]"
    raw = "Rows" if flavour == "json" else "keel.Frame[Raw]"
    kinds = {"rows": rows, "metrics": "dict[str, float]"}
    code = STEPS[index]
    if index == 0:
        argument = "Path"
    elif STEPS[index - 1].returns == "metrics":
        argument = kinds["metrics"]
    else:
        argument = raw if index <= 2 else rows
    returned = raw if index <= 1 and code.returns == "rows" else kinds[code.returns]
    return argument, returned


def _function(flavour: str, index: int, decorator: str) -> str:
    code = STEPS[index]
    argument, returned = _types(flavour, index)
    body = code.json_body if flavour == "json" or not code.frame_body else code.frame_body
    body = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    head = f"{decorator}\n" if decorator else ""
    return f"{head}def {code.name}({code.argument}: {argument}) -> {returned}:\n{body}\n"


def write_input(path: Path, rows: int, seed: int = 0) -> None:
    """``id,a,b,group``: a few negative values (for clean) and repeated ids (for dedupe)."""
    rng = random.Random(seed)
    lines = ["id,a,b,group"]
    for i in range(rows):
        identifier = i if rng.random() > 0.02 else max(0, i - 1)
        a = rng.gauss(10.0, 3.0) if rng.random() > 0.01 else -1.0
        lines.append(f"{identifier},{a:.4f},{rng.uniform(0, 5):.4f},{rng.randrange(5)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_keel(folder: Path, flavour: str) -> str:
    """``steps.py`` in ``folder``: ten steps and the pipelines ``pipe`` and ``one``."""
    header = _JSON_HEADER if flavour == "json" else _FRAME_HEADER
    functions = [_function(flavour, i, "@keel.step") for i in range(len(STEPS))]
    calls = []
    for i, code in enumerate(STEPS):
        source = "source" if i == 0 else ("rows" if STEPS[i - 1].returns == "rows" else "groups")
        target = "rows" if code.returns == "rows" else "groups"
        calls.append(f"    {target} = {code.name}({source})")
    pipelines = (
        "@keel.pipeline\n"
        f'def pipe(source: Path = Path("{INPUT}")) -> None:\n'
        '    """All ten steps."""\n' + "\n".join(calls) + "\n\n\n"
        "@keel.pipeline\n"
        f'def one(source: Path = Path("{INPUT}")) -> None:\n'
        '    """The first step alone."""\n'
        f"    {STEPS[0].name}(source)\n"
    )
    (folder / "steps.py").write_text("\n\n".join([header, *functions, pipelines]))
    return "steps.py"


def _output(index: int) -> str:
    return f"{index + 1:02d}_{STEPS[index].name}.json"


def write_dvc(folder: Path) -> list[str]:
    """Ten scripts doing the JSON flavour's work file to file, and their ``dvc.yaml``."""
    stages = []
    for i, code in enumerate(STEPS):
        script = f"step{i + 1:02d}_{code.name}.py"
        reader = (
            f'Path("{INPUT}")' if i == 0 else f'json.loads(Path("{_output(i - 1)}").read_text())'
        )
        text = (
            "import csv\nimport json\nimport statistics\nfrom pathlib import Path\n\n"
            "Rows = list[dict[str, float]]\n\n\n"
            + _function("json", i, "")
            + '\n\nif __name__ == "__main__":\n'
            + f'    Path("{_output(i)}").write_text(json.dumps({code.name}({reader})))\n'
        )
        (folder / script).write_text(text)
        upstream = INPUT if i == 0 else _output(i - 1)
        stages.append(
            f"  {code.name}:\n"
            f"    cmd: python {script}\n"
            f"    deps:\n      - {script}\n      - {upstream}\n"
            f"    outs:\n      - {_output(i)}\n"
        )
    (folder / "dvc.yaml").write_text("stages:\n" + "".join(stages))
    return [code.name for code in STEPS]


def write_parallel(folder: Path, steps: int = 4) -> str:
    """``parallel.py``: ``steps`` independent steps, each sleeping ``seconds``."""
    names = [f"wait_{chr(ord('a') + i)}" for i in range(steps)]
    functions = [
        f"@keel.step\ndef {name}(seconds: float) -> float:\n"
        f"    time.sleep(seconds)\n    return seconds\n"
        for name in names
    ]
    calls = "\n".join(f"    {name}(seconds)" for name in names)
    text = "\n\n".join(
        [
            '"""Independent steps that only wait."""\n\nfrom __future__ import annotations\n\n'
            "import time\n\nimport keel\n",
            *functions,
            "@keel.pipeline\ndef parallel(seconds: float = 2.0) -> None:\n"
            f'    """{steps} independent steps."""\n{calls}\n',
        ]
    )
    (folder / "parallel.py").write_text(text)
    return "parallel.py"
