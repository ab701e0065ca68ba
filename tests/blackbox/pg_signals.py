"""Stopping and resuming a whole PostgreSQL server with SIGSTOP/SIGCONT (a hung database:
sockets stay open, the kernel keeps acknowledging, nothing answers)."""
import os
import signal


def pg_pids(pg):
    """The postmaster's pid and those of its children (backends, background workers)."""
    master = int((pg.data / "postmaster.pid").read_text().split("\n")[0])
    return master, _children(master)


def _children(master):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            kids.append(int(d))
    return kids


def _kill(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def signal_pg(pids, sig):
    """Sends sig to pids, the postmaster first. Its children are listed again afterwards and
    signalled too: a backend forked for a new connection while the list was being made
    would otherwise keep answering (a stopped postmaster forks no more, so this settles)."""
    _kill(pids, sig)
    if not pids:
        return
    done = set(pids)
    for _ in range(10):
        new = [p for p in _children(pids[0]) if p not in done]
        if not new:
            return
        _kill(new, sig)
        done.update(new)
