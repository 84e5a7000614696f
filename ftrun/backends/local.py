"""The embedded default: run the chunks here, through the same runner Slurm tasks use.

A pool of workers, one per visible GPU (each with its own CUDA_VISIBLE_DEVICES), takes chunks from one
queue, so never two timed cases share a GPU and an 8-GPU host finishes in about an eighth of the time.
Without a GPU there is one worker on the CPU. The cluster's max_tasks caps the pool.

The submit runs under the runs folder's submit lock (ftrun.submit), so a second submit waits instead of
running the same cases beside this one. SIGTERM or Ctrl-C stops every chunk: the cases in flight are
killed and recorded CANCELLED, finished ones stay; a SIGKILL takes the workers with it (jobs.entry).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
from collections.abc import Iterator

from ftrun.backends import Cancelled, Flight
from ftrun.devices import local_gpus
from ftrun.errors import FtrunError
from ftrun.events import CaseDone, CaseStarted, Message, Note, RunEnded, RunStarted
from jobs import plugins
from jobs.runner import ChunkRun, Stop, run_chunk
from results.records import RunInfo
from results.runsdir import RunsDir

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


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


class LocalBackend:
    kind = "local"

    def prepare(self, cluster, gpus: tuple[str, ...] | None) -> None:
        pool(list(gpus) if gpus else None, cluster.max_tasks)

    def preview(self, cluster, chunk_list: list) -> list[str]:
        return []

    def submit(self, runs: RunsDir, plan, chunk_list: list, campaign_id: str,
               gpus: tuple[str, ...] | None = None) -> Iterator:
        if not plan.to_run:
            yield Message("nothing to run: every case has a result (use --force to run again)")
            return
        workers = pool(list(gpus) if gpus else None, plan.cluster.max_tasks)
        if workers != [None]:
            yield Note(f"{len(workers)} worker(s), one per GPU: {', '.join(workers)}")
        yield RunStarted(sum(len(c) for c in chunk_list), workers)
        done = 0
        for event in run(plan, chunk_list, runs, campaign_id, workers):
            done += isinstance(event, CaseDone)
            yield event
        yield RunEnded(done, runs.root)

    def reconcile(self, runs: RunsDir, cluster: str | None = None) -> Flight:
        # a local run lives in the process that holds the submit lock: nothing of it outlives that process
        return Flight()

    def cancel(self, runs: RunsDir, flight: Flight, keys: set[str]) -> Cancelled:
        return Cancelled(0, ())


BACKEND = LocalBackend()


def run(plan, chunk_list: list, runs: RunsDir, campaign_id: str, workers: list[str | None]) -> Iterator:
    """Run the chunks on the pool, yielding CaseStarted/CaseDone as the workers go (in this thread)."""
    todo: queue.Queue = queue.Queue()
    for number, chunk in enumerate(chunk_list):
        todo.put((number, chunk))
    events: queue.Queue = queue.Queue()
    errors: list[BaseException] = []
    stop = Stop()

    def work(gpu: str | None) -> None:
        while not errors and not stop.requested:
            try:
                number, chunk = todo.get_nowait()
            except queue.Empty:
                return
            cfg = _config(plan, chunk, runs, campaign_id, number, gpu, stop)
            try:
                run_chunk([case for case, _ in chunk], cfg, lambda spec: events.put(CaseStarted(spec)),
                          lambda spec, record: events.put(CaseDone(spec, record)))
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
                errors.append(e)
                stop.request(Stop.INTERRUPTED)
                return

    threads = [threading.Thread(target=work, args=(gpu,), name=f"gpu-{gpu}") for gpu in workers]
    with _stop_on_signals(stop) as caught:
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads) or not events.empty():
                try:
                    yield events.get(timeout=0.2)
                except queue.Empty:
                    continue
        finally:
            if any(t.is_alive() for t in threads):
                # Ctrl-C here, or the consumer gone: stop the workers (they record their cases), keep the rest
                stop.request(Stop.INTERRUPTED)
            for t in threads:
                t.join()
    if errors:
        raise errors[0]
    if caught:
        raise FtrunError(f"stopped by {caught[0]}: the cases in flight are recorded CANCELLED, finished results "
                         "are kept; submit again to run the rest")


def _config(plan, chunk: list, runs: RunsDir, campaign_id: str, number: int, gpu: str | None,
            stop: Stop) -> ChunkRun:
    scales = {case.key: decision.limit_scale for case, decision in chunk}
    info = RunInfo(cluster=plan.cluster.name, node=socket.gethostname(), job_id=f"local-{os.getpid()}",
                   campaign=campaign_id, chunk=number, gpu=gpu)
    return ChunkRun(
        runs=runs,
        limit_s=lambda spec: plan.cluster.case_limit_s(spec.system) * scales.get(spec.key, 1.0),
        log_path=runs.chunk_log(campaign_id, number),
        run=info, env={"CUDA_VISIBLE_DEVICES": gpu} if gpu is not None else {}, stop=stop,
        plugins=plugins.active_spec().to_json(),
    )


@contextlib.contextmanager
def _stop_on_signals(stop: Stop) -> Iterator[list[str]]:
    """While running, SIGTERM and SIGHUP stop every chunk (Ctrl-C does, as KeyboardInterrupt); the names
    of the signals caught are collected in the list this yields."""
    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        caught.append(signal.Signals(signum).name)
        stop.request(Stop.TERMINATED)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
