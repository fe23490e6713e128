"""End-to-end local throughput: the design against the naive one, same code, same files.

    .venv/bin/python bench/pipeline.py [--sets sample,mixed] [--files 200] [--modes design,naive] [--out-dir bench/out]

For each file set and mode a child process runs `local.run.LocalPipeline` (moto S3 + Step
Functions executing the real ASL, in-process handlers, librdkafka mock Kafka, pgserver,
local model servers) and measures it; the parent prints one table per set and the ratio.

* design: what is deployed: MODEL_BATCH_ITEMS = the catalog's `client_batch_items`, each modality's
  Map MaxConcurrency = `map_max_concurrency`, Kafka batches of up to `kafka.batch_size`
  records gathered for up to `kafka.batching_window_seconds` (one execution per batch).
* naive: one file at a time, one execution per file (Kafka batches of 1, the next file is
  uploaded only once the previous execution ended), MODEL_BATCH_ITEMS 1 per role (one endpoint call per
  item), Map MaxConcurrency=1.

Measured per mode: wall time from the first upload to the end of the last execution (the
event source mapping has joined its group before the clock starts), files per minute overall
and per modality (files / time while that modality was in flight), mean seconds per step per
modality (Step Functions history), peak RSS of the process (resource.getrusage) and the sum
of the model containers' peaks (every process of each container: multi-model-server's Java
frontend and its Python workers), and per file: state transitions (history: every *StateEntered event plus every retry), Lambda
invocations and their in-process durations, endpoint invocations and items per model role
(counted around ModelClient._send). `bench/cost.py` turns the saved JSON into dollars.

Roles without local weights (image_embedding, generation) are served by random tiny models of
their production architectures through the same toolkit (model_artifacts.random_models) unless
--no-tiny, so their calls are made and counted; their latency is not the real model's (the
benchmark prices those roles from bench/models.py throughput instead).
The models run with one torch thread (--torch-threads, both modes; see bench/README.md). Results: printed, and saved to <--out-dir>/pipeline-<set>.json
(default bench/out, git-ignored; a trial run pointed elsewhere leaves the measured figures there alone).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.common import constants as c  # noqa: E402
from model_artifacts.catalog import ENV_LOCAL_MODEL_DIRS  # noqa: E402

OUT = ROOT / "bench" / "out"
MODES = ("design", "naive")
MODALITY_ORDER = ("image", "document", "text", "audio", "video", "unsupported")


def design_config() -> dict[str, Any]:
    """The deployed settings the design mode runs with (cdk.json context.pipeline)."""
    pipeline = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    from model_artifacts.catalog import client_batch_items

    return {"model_batch_items": client_batch_items(),
            "map_max_concurrency": dict(pipeline["map_max_concurrency"]),
            "kafka_batch_size": int(pipeline["kafka"]["batch_size"]),
            "kafka_window_s": float(pipeline["kafka"]["batching_window_seconds"])}


def mode_config(mode: str) -> dict[str, Any]:
    if mode == "design":
        return design_config()
    return {"model_batch_items": dict.fromkeys(c.MODEL_ROLES, 1), "map_max_concurrency": dict.fromkeys((*c.MODALITIES, c.UNSUPPORTED), 1),
            "kafka_batch_size": 1, "kafka_window_s": 0.0}


# -- instrumentation (child process) -------------------------------------------------------
class Recorder:
    """Counts Lambda invocations and endpoint calls, attributed to the modality being processed."""

    def __init__(self) -> None:
        self.lambdas: list[tuple[str, str, float]] = []  # (function, modality, seconds)
        self.calls: list[tuple[str, str, int, float]] = []  # (role, modality, items, seconds)
        self._local = threading.local()

    def install(self) -> None:
        from functions.common.model_client import ModelClient
        from local import lambda_dispatch

        original_invoke = lambda_dispatch.invoke_in_process
        original_send = ModelClient._send
        recorder = self

        def invoke_in_process(handler, function_name, body, *args, **kwargs):
            try:
                event = json.loads(body) if body else {}
                modality = (event.get("object") or {}).get("modality", "?")
            except (ValueError, AttributeError):
                modality = "?"
            recorder._local.modality = modality
            start = time.perf_counter()
            try:
                return original_invoke(handler, function_name, body, *args, **kwargs)
            finally:
                recorder.lambdas.append((function_name, modality, time.perf_counter() - start))

        def send(self, role, endpoint, body):
            start = time.perf_counter()
            try:
                return original_send(self, role, endpoint, body)
            finally:
                items = len(json.loads(body)["inputs"])
                recorder.calls.append((role, getattr(recorder._local, "modality", "?"), items, time.perf_counter() - start))

        lambda_dispatch.invoke_in_process = invoke_in_process
        ModelClient._send = send


def windowed_mapping(window_s: float, **kwargs: Any) -> Any:
    """local.esm's event source mapping with the deployed batching window: one invocation gets
    up to `batch_size` records, gathered for at most `window_s` seconds (the stand-in alone
    invokes with whatever one poll returned, often a few records).
    https://docs.aws.amazon.com/lambda/latest/dg/with-msk-configure.html#msk-batching"""
    from local import KafkaEventSourceMapping
    from local.esm import FakeLambdaContext, msk_event

    class Windowed(KafkaEventSourceMapping):
        def poll_once(self, timeout_ms: int | None = None) -> int:
            polled: dict[Any, list[Any]] = {}
            count, deadline = 0, time.monotonic() + window_s
            while True:
                got = self.consumer.poll(timeout_ms=100, max_records=self.batch_size - count)
                for tp, recs in got.items():
                    polled.setdefault(tp, []).extend(recs)
                    count += len(recs)
                if not count:
                    return 0
                if count >= self.batch_size or time.monotonic() >= deadline:
                    break
            event = msk_event(polled, self.bootstrap_servers)
            self.stats.results.append(self.handler(event, FakeLambdaContext(function_name=self.function_name)))
            self._commit(polled)
            return count

    return Windowed(**kwargs)


def _all_executions(sfn: Any, arn: str) -> list[dict]:
    executions, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=arn, maxResults=100, **({"nextToken": token} if token else {}))
        executions.extend(page["executions"])
        token = page.get("nextToken")
        if not token:
            return executions


def _running(arn: str) -> bool:
    """Whether any execution of `arn` is still running, read from moto's backend in this process:
    polling through its HTTP API every few ms would itself take CPU (and the GIL) from the run
    being measured."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.responses import get_backend

    from local.aws import LOCAL_REGION

    running, _next_token = get_backend(DEFAULT_ACCOUNT_ID, LOCAL_REGION).list_executions(arn, status_filter="RUNNING")
    return bool(running)


def _wait_idle(pipeline: Any, esm: Any, timeout_s: float = 3600, poll_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while esm.stats.records < pipeline.published:
        if time.monotonic() > deadline:
            raise TimeoutError("the event source mapping did not consume every message")
        time.sleep(poll_s)
    while _running(pipeline.arn):
        if time.monotonic() > deadline:
            raise TimeoutError("executions still running")
        time.sleep(poll_s)


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB; 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stop_postgres(pgdata: Path, timeout_s: float = 30.0) -> None:
    """Stop the PostgreSQL server running on the data directory `pgdata`, if any (fast shutdown).

    A LocalPipeline's server outlives the process that started it: local/results.py restarts it
    once per new data directory (max_connections), after which pgserver's exit handler no longer
    knows the running server. Fine for .local-run (kept for `search`); not for a throw-away one."""
    import signal

    import psutil

    target = Path(pgdata).resolve()
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] != "postgres" or "-D" not in cmd[:-1] or Path(cmd[cmd.index("-D") + 1]).resolve() != target:
            continue
        deadline = time.monotonic() + timeout_s
        try:
            proc.send_signal(signal.SIGINT)  # https://www.postgresql.org/docs/16/server-shutdown.html
            while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.1)
        except psutil.NoSuchProcess:
            pass


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process and its waited-for children (ffmpeg, tesseract)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def run_child(mode: str, folder: Path, tiny: bool, threads: int = 1) -> dict[str, Any]:
    """One measured pass of `folder` in `mode`; returns the figures (see the module docstring)."""
    from local import setup_pipeline
    from local.history import history, iterations
    from local.run import LOCAL_KAFKA_API_VERSION, TOPIC, LocalPipeline

    config = mode_config(mode)
    if threads:
        # Intra-op threads of the models: torch reads OMP_NUM_THREADS when the model workers
        # import it. With 20 concurrent requests on 2 cores, torch's default (one per core) spun
        # OpenMP threads against each other.
        os.environ["OMP_NUM_THREADS"] = str(threads)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    recorder = Recorder()
    recorder.install()
    if tiny:
        os.environ[ENV_LOCAL_MODEL_DIRS] = json.dumps(_tiny_models())
    work = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
    from functions.dispatcher.handler import lambda_handler as dispatch

    with LocalPipeline(work, progress=False) as pipeline:
        os.environ[c.ENV_MODEL_BATCH_ITEMS] = json.dumps(config["model_batch_items"])
        # The machine LocalPipeline made (the template's name: the roles' grants name it, and the
        # dispatcher starts it through STATE_MACHINE_ARN), redefined with this mode's Map limits.
        pipeline.arn = setup_pipeline(pipeline.moto, max_concurrency=config["map_max_concurrency"],
                                      segment_concurrency=pipeline.profile.workers,
                                      name=pipeline.deployment.state_machine_name)
        assert pipeline.arn == os.environ[c.ENV_STATE_MACHINE_ARN], (pipeline.arn, os.environ[c.ENV_STATE_MACHINE_ARN])
        esm = windowed_mapping(config["kafka_window_s"], bootstrap_servers=pipeline.kafka.bootstrap_servers, topic=TOPIC,
                               handler=dispatch, group_id=f"bench-{mode}", batch_size=config["kafka_batch_size"],
                               max_wait_ms=100, api_version=LOCAL_KAFKA_API_VERSION)
        joined = time.monotonic() + 30
        while not esm.consumer.assignment() and time.monotonic() < joined:
            esm.poll_once(100)  # join the consumer group before the clock starts
        per_file_wall: dict[str, float] = {}
        started = time.monotonic()
        try:
            if mode == "naive":
                esm.start()
                for path in files:
                    t0 = time.monotonic()
                    pipeline.forward(pipeline.upload(folder, [path]))
                    _wait_idle(pipeline, esm)
                    per_file_wall[path.relative_to(folder).as_posix()] = time.monotonic() - t0
            else:
                # Every message is on the topic before the mapping polls: full batches, as the
                # deployed mapping's batching window (kafka.batching_window_seconds) makes them.
                pipeline.forward(pipeline.upload(folder, files))
                esm.start()
                _wait_idle(pipeline, esm)
        finally:
            elapsed = time.monotonic() - started
            esm.stop()
        server_pids = pipeline.profile.pids_by_role()
        servers_rss = sum(_peak_rss_mb(pid) for pids in server_pids.values() for pid in pids)
        cpu_by_role = {role: round(sum(_cpu_s(pid) for pid in pids), 1) for role, pids in server_pids.items()}
        cpu_by_role["pipeline"] = round(_cpu_s(os.getpid()), 1)  # handlers, moto, Kafka client
        executions = _all_executions(pipeline.sfn, pipeline.arn)
        histories = {e["executionArn"]: history(pipeline.sfn, e["executionArn"]) for e in executions}
        statuses = {}
        from functions.common.db import DbConfig, open_connection

        with open_connection(DbConfig.from_env(pipeline.db_env)) as conn:
            for key, status in conn.execute("SELECT key, status FROM pipeline.objects").fetchall():
                statuses[key] = status
            shape = {m: {"media_s": media_s, "chunks": chunks} for m, media_s, chunks in conn.execute(
                """SELECT o.modality, avg((o.metadata->>'duration')::float),
                          avg((SELECT count(*) FROM pipeline.chunks ch WHERE ch.object_id = o.id))
                   FROM pipeline.objects o WHERE o.status = 'succeeded' GROUP BY o.modality""").fetchall()}
    stop_postgres(work / "pg")  # this pass's throw-away database: nothing reads it later
    shutil.rmtree(work, ignore_errors=True)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = summarise(mode, config, files, folder, elapsed, per_file_wall, histories, recorder, statuses,
                       self_rss, children_rss, esm.stats.batches, iterations)
    for modality, figures in shape.items():  # mean media seconds and chunks per succeeded file (bench/cost.py scales them)
        if modality in result["modalities"]:
            result["modalities"][modality].update({k: None if v is None else round(float(v), 2) for k, v in figures.items()})
    result["torch_threads"] = threads
    result["model_servers_peak_rss_mb"] = round(servers_rss, 1)
    result["cpu_s"] = cpu_by_role  # includes start-up (model loading)
    return result


def summarise(mode, config, files, folder, elapsed, per_file_wall, histories, recorder, statuses,
              self_rss, children_rss, dispatcher_batches, iterations) -> dict[str, Any]:
    modality_of: dict[str, str] = {}
    by_modality: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "files": 0, "succeeded": 0, "failed": 0, "transitions": 0.0, "step_s": defaultdict(list),
        "first": None, "last": None, "wall_s": 0.0})
    for arn, events in histories.items():
        its = iterations(arn, events)
        entered = [e for e in events if e["type"].endswith("StateEntered")]
        task_entered = sum(1 for e in entered if e["type"] == "TaskStateEntered")
        overhead = (len(entered) - task_entered) / max(1, len(its))  # Parallel + Map states, per file
        for it in its:
            modality_of[it.key] = it.modality
            m = by_modality[it.modality]
            m["files"] += 1
            outcome = statuses.get(it.key, it.outcome)
            m["succeeded" if outcome == "succeeded" else "failed"] += 1
            m["transitions"] += overhead + sum(max(1, s.attempts) for s in it.steps)  # each retry is a transition
            for s in it.steps:
                if s.seconds is not None:
                    m["step_s"][s.step].append(s.seconds)
            end = max(s.exited for s in it.steps if s.exited) if any(s.exited for s in it.steps) else it.started
            m["first"] = it.started if m["first"] is None else min(m["first"], it.started)
            m["last"] = end if m["last"] is None else max(m["last"], end)
            if it.key in per_file_wall:
                m["wall_s"] += per_file_wall[it.key]
    lambdas = defaultdict(lambda: defaultdict(list))
    for function, modality, seconds in recorder.lambdas:
        lambdas[modality][function.removeprefix("pipeline-").replace("-", "_")].append(seconds)
    calls = defaultdict(lambda: defaultdict(lambda: [0, 0, 0.0]))
    for role, modality, items, seconds in recorder.calls:
        entry = calls[modality][role]
        entry[0] += 1
        entry[1] += items
        entry[2] += seconds
    out_modalities = {}
    for modality in sorted(by_modality, key=lambda m: MODALITY_ORDER.index(m) if m in MODALITY_ORDER else 99):
        m = by_modality[modality]
        n = m["files"]
        busy = m["wall_s"] if mode == "naive" else (m["last"] - m["first"]).total_seconds()
        out_modalities[modality] = {
            "files": n, "succeeded": m["succeeded"], "failed": m["failed"],
            "busy_s": round(busy, 2), "files_per_min": round(60 * n / busy, 2) if busy else None,
            "step_mean_s": {s: round(sum(v) / len(v), 3) for s, v in m["step_s"].items()},
            "transitions_per_file": round(m["transitions"] / n, 2),
            "lambda_invocations_per_file": {f: round(len(v) / n, 3) for f, v in lambdas[modality].items()},
            "lambda_mean_s": {f: round(sum(v) / len(v), 3) for f, v in lambdas[modality].items()},
            "endpoint_calls_per_file": {r: round(e[0] / n, 3) for r, e in calls[modality].items()},
            "endpoint_items_per_file": {r: round(e[1] / n, 3) for r, e in calls[modality].items()},
            "endpoint_s_per_item": {r: round(e[2] / e[1], 4) for r, e in calls[modality].items() if e[1]},
        }
    total = len(files)
    return {
        "mode": mode, "config": config, "files": total, "executions": len(histories),
        "dispatcher_invocations": dispatcher_batches, "elapsed_s": round(elapsed, 2),
        "files_per_min": round(60 * total / elapsed, 2), "peak_rss_mb": round(self_rss, 1),
        "children_peak_rss_mb": round(children_rss, 1), "modalities": out_modalities,
        "cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()[0],
    }


# -- parent --------------------------------------------------------------------------------
def _prepare(set_name: str, files: int, tmp: Path) -> Path:
    folder = tmp / set_name
    if set_name == "sample":
        from samples.generate import generate

        generate(folder)
    else:
        from bench.mixed_set import generate

        generate(folder, files)
    return folder


def _tiny_models() -> dict[str, str]:
    """Random tiny CLIP and Florence-2 folders for the roles without local weights."""
    from model_artifacts import random_models

    root = Path(tempfile.mkdtemp(prefix="bench-tiny-"))
    return {c.MODEL_IMAGE_EMBEDDING: str(random_models.build_clip(root / "random-tiny-clip")),
            c.MODEL_GENERATION: str(random_models.build_florence2(root / "random-tiny-florence2"))}


def _child(mode: str, folder: Path, tiny: bool, threads: int, out: Path, log: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.pipeline", "--child", mode, "--folder", str(folder), "--out", str(out),
           "--torch-threads", str(threads)]
    if not tiny:
        cmd.append("--no-tiny")
    with log.open("w") as f:
        subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.read_text())


def print_comparison(set_name: str, results: dict[str, dict[str, Any]]) -> None:
    design, naive = results.get("design"), results.get("naive")
    print(f"\n## {set_name}: {next(iter(results.values()))['files']} files")
    print("| modality | files | mode | files/min | " + " | ".join(f"{s} s" for s in c.PIPELINE_STEPS)
          + " | transitions/file | Lambda inv./file | endpoint calls/file |")
    print("|---|---:|---|---:|" + "---:|" * len(c.PIPELINE_STEPS) + "---:|---:|---:|")
    for mode, r in results.items():
        for modality, m in r["modalities"].items():
            steps = " | ".join(f"{m['step_mean_s'].get(s, 0):.2f}" for s in c.PIPELINE_STEPS)
            lam = sum(m["lambda_invocations_per_file"].values())
            calls = sum(m["endpoint_calls_per_file"].values())
            print(f"| {modality} | {m['files']} ({m['failed']} failed) | {mode} | {m['files_per_min'] or 0:.1f} | {steps} "
                  f"| {m['transitions_per_file']:.2f} | {lam:.2f} | {calls:.2f} |")
    # Children's peak (ffmpeg, tesseract) is kept in the JSON only: getrusage counts a forked
    # child's inherited pages before exec, so it mostly repeats the parent's size.
    print("\n| mode | executions | wall s | files/min | peak RSS MB, pipeline | peak RSS MB, model servers |"
          "\n|---|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        print(f"| {mode} | {r['executions']} | {r['elapsed_s']:.1f} | {r['files_per_min']:.1f} "
              f"| {r['peak_rss_mb']:.0f} | {r.get('model_servers_peak_rss_mb', 0):.0f} |")
    print("\nCPU seconds by process (start-up included): " + "; ".join(
        f"{mode}: " + ", ".join(f"{k} {v:.0f}" for k, v in r.get("cpu_s", {}).items()) for mode, r in results.items()))
    if design and naive:
        print(f"\ndesign / naive files per minute: {design['files_per_min'] / naive['files_per_min']:.2f}x")
        print("per modality (design: files over the time its Map was in flight while sharing the cores with the "
              "other Maps, so not that modality's rate alone):")
        for modality, m in design["modalities"].items():
            n = naive["modalities"].get(modality)
            if n and n["files_per_min"] and m["files_per_min"]:
                print(f"  {modality:9} {m['files_per_min'] / n['files_per_min']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="sample,mixed")
    parser.add_argument("--files", type=int, default=200, help="files in the mixed set")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-tiny", action="store_true", help="leave roles without weights unavailable")
    parser.add_argument("--torch-threads", type=int, default=1, help="intra-op threads of the models (0: torch default)")
    parser.add_argument("--out-dir", type=Path, default=OUT,
                        help="where the JSON figures and each pass's log go (default: %(default)s)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(args.child, args.folder, tiny=not args.no_tiny, threads=args.torch_threads)
        args.out.write_text(json.dumps(result, indent=2, default=str))
        return
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; design config {design_config()}")
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        for set_name in args.sets.split(","):
            folder = _prepare(set_name, args.files, Path(tmp))
            results = {}
            for mode in args.modes.split(","):
                print(f"# {set_name} / {mode} ...", file=sys.stderr, flush=True)
                results[mode] = _child(mode, folder, not args.no_tiny, args.torch_threads, Path(tmp) / f"{set_name}-{mode}.json",
                                       out_dir / f"pipeline-{set_name}-{mode}.log")
            (out_dir / f"pipeline-{set_name}.json").write_text(json.dumps(results, indent=2))
            print_comparison(set_name, results)


if __name__ == "__main__":
    main()
