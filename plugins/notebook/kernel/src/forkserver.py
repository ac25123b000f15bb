"""A fork server for ipykernel, started by clx as `python [flags] -c <this> [modules...]`.

It imports ipykernel (and the course's preload modules) once and then forks
one kernel per request. Nothing else happens here before a fork: no kernel
app, no event loop, no thread, no ZMQ context, so every child starts from the
same pristine interpreter state, as a fresh `python -m ipykernel_launcher`
would after its imports.

Protocol, one JSON object per line: requests on fd 0, replies on fd 1.
  <- {"fork": {"id", "module", "args", "cwd", "log"}}
  -> {"ready": {"pid", "failed": [[module, error], ...]}}   once, after imports
  -> {"unfit": reason}                                      instead of ready
  -> {"forked": {"id", "pid"}} or {"error": {"id", "message"}}
  -> {"exited": {"pid", "status"}}                          for every child reaped
The server exits, killing its kernels, when its stdin closes.

A guard forked once, before the first kernel, kills every kernel's process
group when the server is gone however it went (it dies with its worker, by
SIGKILL too): a kernel dies with the server by itself, but a process a cell
started would live on. The server tells the guard each kernel's group as it
forks it and forgets it as it reaps it, over a pipe only the server writes
to; its end-of-file is the server's end.
"""

import os
import sys


def _serve(preload):
    import errno
    import gc
    import json
    import select
    import signal
    import threading

    # The protocol gets descriptors of its own; 0 becomes /dev/null and 1 the
    # log, so a module that prints while it is imported cannot corrupt a reply.
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)

    def send(message):
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(replies, data) :]

    # ipykernel sets this default while it starts; matplotlib reads it when
    # it is imported, which with a preload happens here, before the kernel.
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

    try:
        import runpy  # noqa: F401  (the child needs it; imported once here)

        import ipykernel.ipkernel  # noqa: F401
        import ipykernel.kernelapp  # noqa: F401
        import ipykernel.zmqshell  # noqa: F401
    except BaseException as e:  # noqa: BLE001  (any failure means: do not use this server)
        send({"unfit": "cannot import ipykernel: %s: %s" % (type(e).__name__, e)})
        sys.exit(1)
    # What ipykernel imports while a kernel starts (the debugger's debugpy
    # above all): a plain kernel imports the same, only later. Optional,
    # as they are in ipykernel.
    for name in (
        "ipykernel.debugger",
        "IPython.core.debugger",
        "IPython.core.completerlib",
        "IPython.core.logger",
        "IPython.core.oinspect",
        "IPython.extensions.storemagic",
        "faulthandler",
        "sqlite3",
        "psutil",
        "tornado.gen",
        "tornado.locks",
        "tornado.queues",
        "tornado.platform.asyncio",
    ):
        try:
            __import__(name)
        except ImportError:
            pass
    # Caches every kernel fills the same way on its first cell: the regular
    # expressions of tokenize and of IPython's input transformation (the
    # tokenizer's alone takes milliseconds to compile). Filled here, each
    # child finds them filled; a cache holds the same compiled values either
    # way, so nothing a cell can see differs.
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell("x = [n for n in range(3)]\nx\n")
    except Exception:  # noqa: BLE001  (a cold cache only costs time)
        pass
    if threading.active_count() != 1:
        send({"unfit": "importing ipykernel started a thread"})
        sys.exit(1)

    failed = []
    for name in preload:
        try:
            __import__(name)
        except BaseException as e:  # noqa: BLE001  (reported; the kernel imports it itself)
            failed.append([name, "%s: %s" % (type(e).__name__, e)])
        if threading.active_count() != 1:
            # Forking a process with threads of its own copies locks in any
            # state; this server cannot give fresh kernels.
            send({"unfit": "importing %s started a thread" % name})
            sys.exit(1)

    server = os.getpid()
    guarded_read, guarded = os.pipe()
    guard_pid = os.fork()
    if guard_pid == 0:
        _guard(guarded_read)
    os.close(guarded_read)

    def guard(sign, pid):
        try:
            os.write(guarded, b"%s%d\n" % (sign, pid))
        except OSError:
            pass  # the guard is gone: the server's own end then goes unguarded

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children = set()
    send({"ready": {"pid": server, "failed": failed}})

    def reap():
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == guard_pid:
                continue
            children.discard(pid)
            guard(b"-", pid)
            send({"exited": {"pid": pid, "status": os.waitstatus_to_exitcode(status)}})

    def shut_down():
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in list(children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        # The guard sees the end of its pipe and goes; reaped here, it
        # leaves no zombie where pid 1 does not reap.
        os.close(guarded)
        for pid in [*children, guard_pid]:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os._exit(0)

    def become_kernel(request):
        """In the child: cut every tie to the server, then return the request."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (requests, replies, wake_read, wake_write, guarded):
            os.close(fd)
        os.setsid()
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: go with the server
        except (OSError, AttributeError):
            pass
        if os.getppid() != server:
            os._exit(1)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        try:
            os.chdir(request["cwd"])
        except OSError as e:
            os.write(2, ("cannot enter %s: %s\n" % (request["cwd"], e)).encode())
            os._exit(1)
        # numpy's legacy global generator was seeded in the server; a fresh
        # interpreter would seed it anew.
        numpy_random = sys.modules.get("numpy.random")
        if numpy_random is not None:
            numpy_random.seed()
        return request

    pending = b""
    while True:
        try:
            ready, _, _ = select.select([requests, wake_read], [], [])
        except OSError as e:
            if e.errno == errno.EINTR:
                continue
            raise
        if wake_read in ready:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
            reap()
        if requests not in ready:
            continue
        data = os.read(requests, 65536)
        if not data:
            shut_down()
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                request = json.loads(line)["fork"]
                request_id = request["id"]
            except (ValueError, KeyError, TypeError) as e:
                send({"error": {"id": None, "message": "bad request: %s" % e}})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            # Everything the server holds is the kernel's start: frozen, the
            # child's collector never walks it, so its pages are not copied
            # merely because a collection touched each object's header.
            gc.freeze()
            try:
                pid = os.fork()
            except OSError as e:
                send({"error": {"id": request_id, "message": "fork failed: %s" % e}})
                continue
            if pid == 0:
                return become_kernel(request)
            children.add(pid)
            guard(b"+", pid)
            send({"forked": {"id": request_id, "pid": pid}})


def _guard(updates):
    """The server's guard: track the kernels' groups, kill them at the end."""
    import signal

    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # Every descriptor but the updates closes: one held here would keep the
    # server's requests or replies open after the server is gone.
    os.closerange(0, updates)
    os.closerange(updates + 1, 65536)
    groups = set()
    pending = b""
    while True:
        try:
            data = os.read(updates, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


# Only a forked kernel returns from _serve; the server exits inside it.
_request = _serve(sys.argv[1:])
del _serve
sys.argv = [_request["module"], *_request["args"]]
__import__("runpy").run_module(_request["module"], run_name="__main__", alter_sys=True)
