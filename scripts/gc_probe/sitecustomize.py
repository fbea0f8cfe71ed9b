"""Logs every garbage collection over 0.3 ms of each Python process started with this folder on PYTHONPATH, to
$ATLAS_GC_LOG_DIR/gc-<pid>.txt (default /tmp): wall time, generation, duration, objects collected. Used with
scripts/lsp_sessions.py to see collections inside the server (eighth session: full collections of 14-38 ms)."""

import gc
import os
import time

_started: dict[str, float] = {}
_log = open(os.path.join(os.environ.get("ATLAS_GC_LOG_DIR", "/tmp"), f"gc-{os.getpid()}.txt"), "a", buffering=1)


def _record(phase: str, info: dict) -> None:
    if phase == "start":
        _started["at"] = time.perf_counter()
        return
    spent = (time.perf_counter() - _started.get("at", time.perf_counter())) * 1000
    if spent > 0.3:
        _log.write(f"{time.time():.4f} gen{info['generation']} {spent:.2f} ms collected {info['collected']}\n")


gc.callbacks.append(_record)
