"""What the benchmarks' child processes share: how they get the sandbox token, and their own figures.

Each client runs in a fresh child process so that its memory is its own. The
token goes to the child in the environment (`TOKEN_VARIABLE`), never on its
command line, which any local user can read. Memory is read from
``/proc/self/status`` (``VmRSS`` now, ``VmHWM`` the peak since exec), not
``ru_maxrss``, which a child inherits from its parent's size at fork time.
"""

from __future__ import annotations

import resource

#: How a child process gets the sandbox token.
TOKEN_VARIABLE = "ASTROQUERY_EXT_BENCH_TOKEN"


def status_kib(key: str) -> int:
    """A size of this process from ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``...); 0 where there is none."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def page_faults() -> int:
    """This process's page faults so far (minor: a fresh page mapped; major: one read from disk)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt
