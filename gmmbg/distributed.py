"""Running many per-video jobs: one after another in this process, or as tasks on Dask.

A :class:`Job` names a command of ``gmmbg.jobs``, an input, an output and plain options. Each
job runs through :func:`run_job`, the same function whether it is called here or by a Dask
worker, so the outputs do not depend on where it ran: the worker streams its video and writes
its outputs atomically, exactly as ``gmmbg subtract VIDEO`` does.

- By default (:func:`run_jobs` without ``workers`` or ``scheduler``) the jobs run in this
  process, in order, and Dask is never imported.
- ``workers=N`` starts a ``LocalCluster`` of N worker processes on 127.0.0.1, one task at a
  time each, with Numba's threads split so the N workers do not oversubscribe the cores.
- ``scheduler="tcp://host:8786"`` sends the jobs to an existing Dask cluster; its workers
  must have gmmbg installed and see the inputs and outputs at the same paths.

A video that fails does not stop the others: its entry says ``"status": "failed"`` with a
one-line ``"error"``. Dask comes from the optional extra ``gmmbg[dask]``.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import sys
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from gmmbg.errors import GmmbgError

INSTALL_HINT = (
    "--workers and --scheduler need Dask: install gmmbg[dask] (pip install 'gmmbg[dask]')"
)

# The function of gmmbg.jobs behind each command.
COMMANDS = {
    "subtract": "subtract",
    "extract-background": "extract_background",
    "compare": "compare",
}
# Options that hold paths: made absolute with the input and output before a job leaves this
# process, so a worker with another working folder finds them.
PATH_OPTIONS = ("ground_truth", "roi", "background_truth", "save_model", "load_model")
# How long to wait for a remote scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT = 10.0
WORKERS_TIMEOUT = 30.0

OnDone = Callable[[int, dict], None]


@dataclass(frozen=True)
class Job:
    """One command on one video: ``gmmbg.jobs.<command>(input, output, **options)``."""

    command: str  # a key of COMMANDS
    input: str
    output: str
    options: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------- inputs


def expand_inputs(arguments: Sequence[str]) -> tuple[list[str], bool]:
    """The videos named by command-line ``arguments``, in order, each once; and whether they
    are *many* (several arguments, a glob, or a folder of video files), in which case each
    gets an output named after it even when only one matched.

    - A glob (``*``, ``?``, ``[``) is expanded here too, for shells that pass it quoted
      (Windows); matches come in natural order. A glob matching nothing is an error.
    - A folder holding video files (``.gif``, ``.mp4``, ...) stands for those files; any other
      folder is one video, of its images in natural order.
    - Anything else (a file, ``-``, a missing path) is passed on as it is.
    """
    from gmmbg import media

    videos, many = [], len(arguments) > 1
    for argument in arguments:
        if argument != "-" and any(c in argument for c in "*?[") and not Path(argument).exists():
            matches = sorted(glob.glob(argument, recursive=True), key=media.natural_key)
            if not matches:
                raise GmmbgError(f"{argument}: matches no file or folder")
            many = True
            for match in matches:
                videos += _folder_videos(match) or [match]
        elif found := _folder_videos(argument):
            many = True
            videos += found
        else:
            videos.append(argument)
    unique = {}
    for video in videos:
        unique.setdefault(video if video == "-" else os.path.realpath(video), video)
    return list(unique.values()), many


def _folder_videos(path: str) -> list[str]:
    """The video files of the folder ``path`` in natural order ([] when it holds none, or is
    not a folder). Hidden files (a run's temporary outputs) are left out."""
    from gmmbg import media

    if path == "-" or not os.path.isdir(path):
        return []
    names = [
        entry.name
        for entry in os.scandir(path)
        if entry.is_file()
        and not entry.name.startswith(".")
        and Path(entry.name).suffix.lower() in media.VIDEO_EXTENSIONS
    ]
    return [os.path.join(path, name) for name in sorted(names, key=media.natural_key)]


def output_names(videos: Sequence[str], suffix: str) -> list[str]:
    """``<stem><suffix>`` for each video. Videos whose stems collide are told apart by the
    names of their folders: ``highway/input`` and ``office/input`` give
    ``highway-input<suffix>`` and ``office-input<suffix>``."""
    parts = []
    for video in videos:
        path = Path(os.path.abspath(video))
        parts.append([*path.parent.parts[1:], path.stem])
    depth = [1] * len(videos)
    while True:
        names = ["-".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        counts = Counter(names)
        longer = [
            i for i, name in enumerate(names) if counts[name] > 1 and depth[i] < len(parts[i])
        ]
        if not longer:
            break
        for i in longer:
            depth[i] += 1
    clashes = [(video, name) for video, name in zip(videos, names, strict=True)
               if counts[name] > 1]  # fmt: skip
    if clashes:
        (first, name), (second, _) = clashes[:2]
        raise GmmbgError(f"{first} and {second} would both write {name}{suffix}: rename one")
    return [name + suffix for name in names]


def output_exists(path: str | os.PathLike) -> bool:
    """True when an output is already there: a file, or a folder that is not empty."""
    path = Path(path)
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


# --------------------------------------------------------------------------------- jobs


def run_job(
    job: Job,
    numba_threads: int | dict[str, int] | None = None,
    progress: Callable | None = None,
    log: Callable | None = None,
) -> dict:
    """Run one job and describe how it went; a problem with the video does not raise.

    ``numba_threads``: Numba threads for this job (set in the calling thread, which is what
    Numba's setting applies to), or a ``{worker address: threads}`` plan, or None to leave
    them. ``progress`` and ``log`` go to the job function (callers in this process only).

    Returns the job's report with ``"status": "done"``, or ``{"input", "status": "failed",
    "error": one line, "outputs": []}``; both with ``wall_seconds``, ``warnings`` (each
    distinct message once), ``worker`` (its address, None in this process) and
    ``numba_threads``. Interrupts (KeyboardInterrupt, SystemExit) are not caught.
    """
    start = time.perf_counter()
    callbacks = {name: f for name, f in (("progress", progress), ("log", log)) if f is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _set_numba_threads(numba_threads)
            from gmmbg import jobs

            function = getattr(jobs, COMMANDS[job.command])
            report = function(job.input, job.output, **job.options, **callbacks)
            entry = {"input": job.input, "status": "done", **report}
        except Exception as error:  # any failure is this video's, reported in one line
            entry = _failed(job, one_line(error))
    numba = sys.modules.get("numba")
    entry.update(
        wall_seconds=round(time.perf_counter() - start, 4),
        warnings=list(dict.fromkeys(str(warning.message) for warning in caught)),
        worker=_worker_address(),
        numba_threads=numba.get_num_threads() if numba is not None else None,
    )
    return entry


def one_line(error: BaseException) -> str:
    """An exception as the one line the user sees: the message of gmmbg's own errors (and of
    ValueError, which the library raises for bad values), the type and message of others."""
    if isinstance(error, MemoryError):
        return "out of memory: use fewer training frames (--max-train-frames)"
    lines = str(error).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(error, GmmbgError | ValueError) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _failed(job: Job, error: str) -> dict:
    return {"input": job.input, "status": "failed", "error": error, "outputs": []}


def _set_numba_threads(plan: int | dict[str, int] | None) -> None:
    """Apply a thread plan (see :func:`run_job`) to the calling thread."""
    if plan is None:
        return
    threads = plan.get(_worker_address()) if isinstance(plan, dict) else plan
    if threads is None:  # a worker that joined after the plan was made keeps its default
        return
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _worker_address() -> str | None:
    """The address of the Dask worker running this code, or None outside a worker."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Numba threads for each of ``workers`` processes sharing ``cores`` (default: this
    machine's): the cores split evenly, at least one."""
    return max(1, (cores or usable_cores()) // workers)


def existing_outputs(jobs: Sequence[Job]) -> list[str]:
    """The outputs of ``jobs`` that are already there (see :func:`output_exists`)."""
    return [job.output for job in jobs if output_exists(job.output)]


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    skip_existing: bool = False,
    on_done: OnDone | None = None,
    progress: Callable | None = None,
    log: Callable | None = None,
) -> list[dict]:
    """Run ``jobs`` and return one entry per job, in the order of ``jobs`` (see
    :func:`run_job`); ``on_done(index, entry)`` is called as each one ends.

    In this process by default; on a local cluster of ``workers`` processes; or on the Dask
    cluster whose scheduler is at ``scheduler``. ``skip_existing`` skips the jobs whose
    output is already there (entries with ``"status": "skipped"``). ``progress`` and ``log``
    reach the jobs only when they run in this process.

    Jobs travel with absolute paths, so workers with another working folder find the files;
    the entries name the input and outputs as the jobs did.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers or scheduler, not both")
    on_done = on_done or (lambda index, entry: None)
    entries: list[dict | None] = [None] * len(jobs)
    todo = []
    for index, job in enumerate(jobs):
        if skip_existing and output_exists(job.output):
            entries[index] = {"input": job.input, "status": "skipped", "outputs": [job.output]}
            on_done(index, entries[index])
        else:
            todo.append(index)
    sent = {index: _absolute(jobs[index]) for index in todo}

    def done(index: int, entry: dict) -> None:
        entries[index] = _as_given(entry, jobs[index], sent[index])
        on_done(index, entries[index])

    if workers is None and scheduler is None:
        for index in todo:
            done(index, run_job(sent[index], progress=progress, log=log))
    elif scheduler is not None:
        _run_remote(scheduler, sent, done)
    else:
        _run_local(workers, sent, done)
    return entries


def _absolute(job: Job) -> Job:
    """``job`` with its input, output and path options made absolute (``-`` stays)."""

    def absolute(path):
        return path if path is None or str(path) == "-" else os.path.abspath(path)

    options = {
        name: absolute(value) if name in PATH_OPTIONS else value
        for name, value in job.options.items()
    }
    return replace(job, input=absolute(job.input), output=absolute(job.output), options=options)


def _as_given(entry: dict, job: Job, sent: Job) -> dict:
    """``entry`` naming the input, outputs and other paths as ``job`` did (in its input,
    outputs and error), not by the absolute paths the job was sent with (longest first, as
    one may begin with another: ``/w/clip`` and ``/w/clip-masks.gif``)."""
    entry["input"] = job.input
    entry["outputs"] = [
        job.output + path[len(sent.output) :] if path.startswith(sent.output) else path
        for path in entry.get("outputs", [])
    ]
    if "error" in entry:
        pairs = [(sent.input, job.input), (sent.output, job.output)]
        pairs += [(sent.options[name], job.options[name]) for name in PATH_OPTIONS
                  if job.options.get(name) is not None]  # fmt: skip
        for absolute, given in sorted(pairs, key=lambda pair: -len(str(pair[0]))):
            entry["error"] = entry["error"].replace(str(absolute), str(given))
    return entry


# ---------------------------------------------------------------------------- clusters


def import_distributed():
    """``dask.distributed``, or a one-line GmmbgError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise GmmbgError(INSTALL_HINT) from None
    return distributed


def _run_local(workers: int, jobs: dict[int, Job], done: OnDone) -> None:
    """Run ``jobs`` on a new LocalCluster of ``workers`` processes on 127.0.0.1.

    Each worker runs one task at a time (``threads_per_worker=1``) with the cores split
    between the workers' Numba thread pools (NUMBA_NUM_THREADS, read when a worker first
    imports Numba; OMP_NUM_THREADS for the OpenMP layer). If the run is interrupted, the
    workers are stopped at once and the temporary files of unfinished outputs removed.
    """
    distributed = import_distributed()
    threads = threads_per_worker(workers)
    env = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    try:
        with distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR, env=env,
        ) as cluster, distributed.Client(cluster, set_as_default=False) as client:  # fmt: skip
            client.run(_ignore_interrupts)
            try:
                _submit_and_wait(client, jobs, threads, done)
            except BaseException:
                _kill_workers(cluster)
                raise
    except BaseException:
        for job in jobs.values():
            _remove_partials(job.output)
        raise


def _ignore_interrupts() -> None:
    """Run on each local worker (in its main thread): Ctrl-C in a terminal reaches the whole
    process group, and only the client should act on it (by stopping the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _kill_workers(cluster) -> None:
    """Stop a local cluster's worker processes at once, mid-task: an interrupted run should
    end now, not when the running videos are done (their temporary outputs are removed
    afterwards)."""
    for nanny in list(cluster.workers.values()):
        if getattr(nanny, "pid", None):
            try:
                os.kill(nanny.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _run_remote(address: str, jobs: dict[int, Job], done: OnDone) -> None:
    """Run ``jobs`` on the Dask cluster whose scheduler is at ``address``."""
    distributed = import_distributed()
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise GmmbgError(
            f"cannot reach the Dask scheduler at {address} ({one_line(error)})"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise GmmbgError(
                f"the Dask scheduler at {address} has no workers after {WORKERS_TIMEOUT:.0f} s "
                f"(start some with: dask worker {address} --nthreads 1)"
            ) from None
        _submit_and_wait(client, jobs, _thread_plan(client), done)


def _thread_plan(client) -> dict[str, int]:
    """Numba threads for each worker of a cluster: each host's cores split evenly over the
    task threads of its workers."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    try:
        cores = client.run(usable_cores)
    except ImportError as error:  # the workers cannot unpickle a gmmbg function
        raise GmmbgError(
            f"the Dask workers cannot import gmmbg ({one_line(error)}): install gmmbg on "
            "every worker"
        ) from None
    tasks_per_host = defaultdict(int)
    for worker in workers.values():
        tasks_per_host[worker["host"]] += worker["nthreads"]
    return {
        address: threads_per_worker(tasks_per_host[worker["host"]], cores.get(address))
        for address, worker in workers.items()
    }


def _submit_and_wait(client, jobs: dict[int, Job], threads, done: OnDone) -> None:
    """Submit every job as one task and report each as it ends; an interrupt cancels the
    tasks that have not started."""
    from distributed import as_completed

    futures = {}
    for index, job in jobs.items():
        key = f"gmmbg-{job.command}-{Path(job.input).name}-{uuid.uuid4().hex[:8]}"
        futures[client.submit(run_job, job, threads, key=key, pure=False)] = index
    try:
        for future in as_completed(futures, loop=client.loop):
            index = futures[future]
            if future.status == "finished":
                entry = future.result()
            else:  # the task itself failed: a worker died, or could not run gmmbg
                entry = _failed(jobs[index], _task_error(future.exception()))
            future.release()
            done(index, entry)
    except BaseException:
        client.cancel(list(futures), force=True)
        raise


def _task_error(error: BaseException) -> str:
    """The one line for a task that Dask could not run to its end."""
    if isinstance(error, ImportError):
        return f"the worker cannot import gmmbg ({one_line(error)}): install it on every worker"
    return f"the task failed on the cluster ({one_line(error)})"


def _remove_partials(output: str) -> None:
    """Remove the temporary files and folders an interrupted worker left beside ``output``
    (``gmmbg.media`` and ``gmmbg.compare`` name them ``.<name>.*partial*``)."""
    target = Path(output)
    for path in target.parent.glob(f".{glob.escape(target.name)}.*"):
        if "partial" in path.name:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
