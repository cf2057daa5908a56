"""Helpers shared by the benchmarks: where the corpus is, running newsrag in a child, peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.servers import free_port, wait_until_answers  # noqa: E402, F401 - re-exported to the benchmarks

SHARED = ROOT.parent / "shared" / "bench" / "realtimeqa-dev"
CORPUS = Path(os.environ.get("NEWSRAG_BENCH_CORPUS", SHARED / "corpus.jsonl"))
QUESTIONS = Path(os.environ.get("NEWSRAG_BENCH_QUESTIONS", SHARED / "questions.jsonl"))
OUT = ROOT / "bench" / "out"


def write_config(folder: Path, **sections: dict[str, object]) -> Path:
    """A config.toml in ``folder`` with the index inside it, plus any overrides."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[paths]", f'index_dir = "{folder / "index"}"', f'articles_dir = "{folder / "articles"}"']
    for section, values in sections.items():
        if section == "paths":
            raise ValueError("paths are set by write_config")
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_newsrag(config: Path, *args: str, json_out: bool = True) -> tuple[dict | str, float, float]:
    """Run ``newsrag --config config ARGS [--json]`` in a child: (output, wall seconds, peak RSS MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        env = {**os.environ, "NEWSRAG_BENCH_RSS": rss.name, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, str(ROOT / "bench" / "_child.py"), "--config", str(config), *args]
        start = time.perf_counter()
        proc = subprocess.run(argv + (["--json"] if json_out else []), capture_output=True, text=True, cwd=ROOT,
                              env=env)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"newsrag {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        peak = float(Path(rss.name).read_text() or 0)
    return (json.loads(proc.stdout) if json_out else proc.stdout), wall, peak


def save(name: str, result: object) -> None:
    """Write one benchmark's result to bench/out/NAME.json (run_all.py draws the chart from these)."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


def serve_until_ready(config: Path, path: str = "/", limit_s: float = 300.0, root: Path = ROOT) -> float:
    """Seconds from starting ``newsrag serve`` (a whole process of the code at ``root``, on a free port) until
    ``path`` answers 200."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--config", str(config), "serve", "--port", str(port)],
                            cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}{path}", proc, "newsrag serve", limit_s)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=60)
