"""The embedded default: run the chunks here, through the same runner Slurm uses.

A pool of workers, one per visible GPU (each with its own CUDA_VISIBLE_DEVICES), takes chunks from one
queue, so never two timed cases share a GPU and an 8-GPU host finishes in about an eighth of the time.
Without a GPU there is one worker on the CPU. The cluster's max_tasks caps the pool.
"""

from __future__ import annotations

import os
import queue
import socket
import threading

from ftrun.campaign import Plan
from ftrun.devices import local_gpus
from ftrun.errors import FtrunError
from jobs import plugins
from jobs.runner import ChunkRun, run_chunk
from results.records import Record, RunInfo
from results.runsdir import RunsDir


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    return [str(i) for i in range(len(local_gpus()))]


def pool(requested: list[str] | None, max_tasks: int) -> list[str | None]:
    """The GPU of each worker (None: a CPU worker). `requested` (--gpus) must be visible GPUs."""
    visible = visible_gpus()
    if requested:
        unknown = [g for g in requested if g not in visible]
        if unknown:
            raise FtrunError(f"--gpus {','.join(requested)}: no GPU {', '.join(unknown)} here; "
                             f"visible: {', '.join(visible) or 'none'}")
        chosen = list(dict.fromkeys(requested))
    else:
        chosen = visible
    return chosen[:max(1, max_tasks)] if chosen else [None]


def run(plan: Plan, chunk_list: list, runs: RunsDir, campaign_id: str, on_start=None, on_done=None,
        gpus: list[str] | None = None) -> list[Record]:
    """Run the chunks on the pool; returns every record written."""
    workers = pool(gpus, plan.cluster.max_tasks)
    todo: queue.Queue = queue.Queue()
    for number, chunk in enumerate(chunk_list):
        todo.put((number, chunk))
    records: list[Record] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(gpu: str | None) -> None:
        while not errors:
            try:
                number, chunk = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done = run_chunk([case for case, _ in chunk], _config(plan, chunk, runs, campaign_id, number, gpu),
                                 on_start, on_done)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
                errors.append(e)
                return
            with lock:
                records.extend(done)

    threads = [threading.Thread(target=work, args=(gpu,), name=f"gpu-{gpu}") for gpu in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return records


def _config(plan: Plan, chunk: list, runs: RunsDir, campaign_id: str, number: int, gpu: str | None) -> ChunkRun:
    scales = {case.key: decision.limit_scale for case, decision in chunk}
    run = RunInfo(cluster=plan.cluster.name, node=socket.gethostname(), job_id=f"local-{os.getpid()}",
                  campaign=campaign_id, chunk=number, gpu=gpu)
    return ChunkRun(
        runs=runs,
        limit_s=lambda spec: plan.cluster.case_limit_s(spec.system) * scales.get(spec.key, 1.0),
        log_path=runs.chunk_log(campaign_id, number),
        run=run, env={"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {},
        plugins=plugins.active_spec().to_json(),
    )
