"""A bounded pool of worker processes for image work, so decoding never runs on the agent's event loop.

Processes rather than threads: a 12 MP decode holds a core for tens of milliseconds, a decoder bug could hang or
crash, and `warnings.catch_warnings` (which analysis needs) is process-global. Bounds:
- at most `workers` jobs run at once (a semaphore: a queued job's wait does not count against its time limit);
- each job has a wall-clock limit: a job past it is answered Rejected("timeout") and the pool is replaced (a process
  cannot be interrupted in C code, only killed); jobs of the old pool that were cut short run again once;
- each worker's address space is limited (RLIMIT_AS), so a runaway decoder gets MemoryError, not the machine;
- a worker that dies (a decoder crash) breaks the pool: it is replaced and the jobs run again once; a job that
  breaks the new pool too is Rejected("corrupt").
Spawned, not forked: the processor runs threads (aiokafka, Faust), and a fork of a threaded process may deadlock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from processors.images.analysis import Rejected
from processors.images.work import Job, Outcome, limit_memory, process, warm_up

log = structlog.get_logger(__name__)


class AnalysisPool:
    def __init__(self, workers: int, timeout_s: float, memory_bytes: int) -> None:
        self.workers, self.timeout_s, self.memory_bytes = workers, timeout_s, memory_bytes
        self._gate = asyncio.Semaphore(workers)
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=limit_memory, initargs=(self.memory_bytes,),
                                                 max_tasks_per_child=500)  # a slow leak in a decoder stays small
            self._generation += 1
        return self._executor

    def _replace(self, generation: int) -> None:
        """Kill the pool that `generation` names (once, whoever notices first); the next job starts a new one."""
        if self._executor is None or generation != self._generation:
            return
        executor, self._executor = self._executor, None
        for worker in list((executor._processes or {}).values()):  # the only way to stop a stuck decoder
            worker.kill()
        executor.shutdown(wait=False)  # the management thread fails every pending job with BrokenProcessPool

    async def run(self, job: Job) -> Outcome:
        async with self._gate:
            for attempt in (1, 2):
                executor = self._pool()
                generation = self._generation
                try:
                    future = asyncio.get_running_loop().run_in_executor(executor, process, job)
                    return await asyncio.wait_for(future, self.timeout_s)
                except TimeoutError:
                    log.warning("images.job_timed_out", sha256=job.sha256, timeout_s=self.timeout_s)
                    self._replace(generation)
                    return Outcome(rejected=Rejected("timeout", f"analysis took longer than {self.timeout_s:g} s"))
                except BrokenProcessPool:
                    log.warning("images.pool_broken", sha256=job.sha256, attempt=attempt)
                    self._replace(generation)
            return Outcome(rejected=Rejected("corrupt", "the decoder crashed on this file"))

    async def warm(self) -> None:
        """Start every worker now (spawning one and importing the decoders takes seconds on a busy machine)."""
        loop = asyncio.get_running_loop()
        executor = self._pool()
        try:
            await asyncio.gather(*(loop.run_in_executor(executor, warm_up) for _ in range(self.workers * 2)))
        except BrokenProcessPool:
            log.warning("images.pool_warm_up_failed")

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
