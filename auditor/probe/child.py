"""The child process that runs the user's code under the recorder.

``python -m clsaudit.probe.child SPEC.json``: reads the spec the parent wrote,
sets torch's threads, installs the :class:`~clsaudit.probe.recorder.Recorder`
and runs either the user's script (as ``__main__``, with ``sys.argv`` and
``sys.path`` as ``python train.py ARGS`` would set them) or a factory target
that the probe drives itself (see ``driver.py``). It writes what it saw as
JSON to the spec's ``out`` path and leaves with ``os._exit`` so that threads
or loader workers the script started cannot keep it alive.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback


def _user_traceback(exc: BaseException, script: str | None) -> str:
    """Format the user's exception with the probe's own frames trimmed off the top."""
    frames = traceback.extract_tb(exc.__traceback__)
    probe_dir = os.path.dirname(os.path.abspath(__file__))
    import runpy

    runpy_file = runpy.__file__

    def ours(frame: traceback.FrameSummary) -> bool:
        if frame.filename in ("<frozen runpy>", runpy_file):
            return True
        return os.path.abspath(frame.filename).startswith(probe_dir)

    if script is not None and not all(ours(f) for f in frames):
        kept: list = []
        for frame in frames:
            if ours(frame):
                continue
            if frame.filename.endswith("overrides.py") and frame.name == "handle_torch_function":
                # The loss call re-entered through the probe's TorchFunctionMode:
                # drop the dispatch frames the user would not see without the probe.
                if kept and "handle_torch_function" in (kept[-1].line or ""):
                    kept.pop()
                continue
            kept.append(frame)
        frames = traceback.StackSummary.from_list(kept)
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _environment(threads: int) -> dict:
    import torch

    env = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": threads,
        "cuda_available": torch.cuda.is_available(),
    }
    if env["cuda_available"]:
        env["cuda_device"] = torch.cuda.get_device_name(0)
    return env


def _stop_on_timeout_signal(recorder):
    """SIGUSR1 from the parent at its timeout: stop the script where it is and report.

    Returns the previous handler (to restore), or None where none was set.
    """
    import signal
    import threading

    from clsaudit.probe.recorder import ProbeStop

    def stop(signum, frame):
        recorder.stop_reason = "timeout"
        raise ProbeStop()

    if not hasattr(signal, "SIGUSR1") or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGUSR1, stop)


def run_script(spec: dict, recorder) -> dict:
    """Run the user's script as ``__main__`` until it ends or the step budget is spent."""
    import runpy

    from clsaudit.probe.recorder import ProbeStop

    script = os.path.abspath(spec["script"])
    saved_argv, saved_path = sys.argv, sys.path[0]
    sys.argv = [spec["script"], *spec.get("args", [])]
    sys.path[0] = os.path.dirname(script)
    result: dict = {"status": "finished", "exit_code": 0}
    previous_handler = _stop_on_timeout_signal(recorder)
    recorder.install()
    try:
        # The path as given: runpy sets sys.argv[0] to it, as `python PATH` does.
        runpy.run_path(spec["script"], run_name="__main__")
    except ProbeStop:
        result["status"] = "stopped"
    except SystemExit as exc:
        code = exc.code
        result["status"] = "exited"
        result["exit_code"] = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            result["exit_message"] = str(code)
    except KeyboardInterrupt:
        result["status"] = "interrupted"
    except BaseException as exc:  # noqa: BLE001 (the user's own error: reported as theirs)
        result["status"] = "error"
        result["error"] = {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": _user_traceback(exc, script),
        }
    finally:
        recorder.uninstall()
        sys.argv = saved_argv
        sys.path[0] = saved_path
        if previous_handler is not None:
            import signal

            signal.signal(signal.SIGUSR1, previous_handler)
    return result


def limit_memory(max_bytes: int | None) -> None:
    """Cap the data segment (heap and anonymous mappings) of this process and its children.

    ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: CUDA and some allocators
    reserve large address ranges they never touch, which ``RLIMIT_AS``
    counts; ``RLIMIT_DATA`` counts only writable private memory (Linux
    4.7+). An allocation past the cap fails in the script (``MemoryError``,
    torch's "can't allocate memory"), which the parent reports as the limit.
    """
    if not max_bytes:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (max_bytes, max_bytes))
    except (ImportError, ValueError, OSError):
        pass  # not on Linux, or above a hard limit: the parent's timeout still holds


def _save_picture(recorder, path: str) -> dict:
    from clsaudit.probe import batch_picture

    classes = None
    if recorder.loader_passes is not None:
        training = [p for p in recorder.loader_passes.passes if p["training"]]
        if training:
            for facts in recorder.loader_passes.loaders.values():
                if facts["index"] == training[0]["loader"]:
                    classes = facts["classes"]
    return batch_picture.save(recorder.picture, classes, path)


def collect(spec: dict) -> dict:
    """Run the target under the recorder and return what was seen (no exit, no file).

    Tests call this in-process to run many fixtures without a process start each.
    """
    threads = int(spec.get("threads") or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    # A busy 2-core machine with more OpenMP threads than cores runs torch
    # an order of magnitude slower (DESIGN.md, Runtime probe).
    torch.set_num_threads(threads)
    from clsaudit.probe.recorder import Recorder

    started = time.perf_counter()
    steps = int(spec["steps"])
    output: dict = {"environment": _environment(threads), "mode": spec["mode"]}
    try:
        if spec["mode"] == "script":
            recorder = Recorder(
                max_steps=steps,
                stop=True,
                soft_budget=bool(spec.get("soft_budget")),
                limit_batches=spec.get("limit_batches"),
                watch_loaders=True,
            )
            output.update(run_script(spec, recorder))
        else:
            from clsaudit.probe.driver import run_factory

            recorder = Recorder(max_steps=steps, stop=False)
            output.update(run_factory(spec, recorder))
        output["observations"] = recorder.observations()
        if spec.get("show_batch"):
            output["show_batch"] = _save_picture(recorder, spec["show_batch"])
    except BaseException as exc:  # noqa: BLE001 (the probe's own failure, reported)
        output["status"] = "probe_error"
        output["error"] = {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        }
    output["elapsed"] = round(time.perf_counter() - started, 3)
    return output


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    limit_memory(spec.get("max_memory"))
    output = collect(spec)
    tmp = spec["out"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(output, fh, default=str)
    os.replace(tmp, spec["out"])
    sys.stdout.flush()
    sys.stderr.flush()
    # Loader workers would hold the output pipe open after we leave.
    import multiprocessing

    for worker in multiprocessing.active_children():
        worker.kill()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
