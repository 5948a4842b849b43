"""Run ``python -m hpt_core`` with one fault injected: ``tests/fault_child.py MODULE:NAME:N ARGS…``
SIGKILLs this process at the N-th call of ``NAME`` in ``hpt_core.MODULE`` (``Class.method`` for a
method), before the call runs — what a power cut, an OOM kill or ``kill -9`` at that moment leaves;
``MODULE:NAME:N:enospc`` makes that call fail as on a full disk. Test-only: the package itself has
no fault hooks."""

import errno
import functools
import importlib
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def inject(spec: str) -> None:
    """``MODULE:NAME:N`` kills at the N-th call; ``MODULE:NAME:N:enospc`` raises a full disk's
    ``OSError`` there instead (``os:fsync:N:enospc``: the N-th fsync of any file)."""
    module_name, name, nth, *how = spec.split(":")
    module = importlib.import_module(module_name if module_name == "os" else f"hpt_core.{module_name}")
    owner, attribute = module, name
    if "." in name:
        class_name, attribute = name.split(".")
        owner = getattr(module, class_name)
    original = getattr(owner, attribute)
    calls = {"n": 0}

    @functools.wraps(original)
    def killed_at_the_nth_call(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == int(nth):
            if how == ["enospc"]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(owner, attribute, killed_at_the_nth_call)


if __name__ == "__main__":
    inject(sys.argv[1])
    from hpt_core.cli import main

    raise SystemExit(main(sys.argv[2:]))
