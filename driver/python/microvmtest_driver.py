"""microvmtest_driver - the Python front end of microvmtest.

Runs a NixOS test's `testScript` with the NixOS driver's globals. It holds
no machine logic: every machine method is one request to the engine
(microvmtest itself) over the socketpair given as --fd, one JSON line each
way (driver/pyproto.h), so the engine keeps pumping every node's serial
output while Python runs. Only the standard library is used.

    python3 microvmtest_driver.py --fd N     run the script the engine sends
    python3 microvmtest_driver.py --check    syntax-check the script on stdin
"""

import code
import contextlib
import json
import linecache
import os
import re
import socket
import sys
import time
import traceback
import unittest

# The script's frames are the ones with this file name in a traceback.
SCRIPT = "<testScript>"


class TestScriptError(Exception):
    """The test script failed (NixOS's base class for such errors)."""


class RequestedAssertionFailed(TestScriptError):
    """A requested check failed: succeed(), wait_for_unit(), t.assertEqual()..."""


class PollingConditionError(Exception):
    """A polling condition failed while a machine method ran."""


class ProtocolError(Exception):
    """The engine could not read a request (a bug in this module)."""


_ERRORS = {
    "RequestedAssertionFailed": RequestedAssertionFailed,
    "TypeError": TypeError,
    "NotImplementedError": NotImplementedError,
    "AttributeError": AttributeError,
    "ProtocolError": ProtocolError,
}


class _Engine:
    """Requests to microvmtest, one at a time, each answered before the next."""

    def __init__(self, fd):
        self._sock = socket.socket(fileno=fd)
        self._in = self._sock.makefile("rb")
        self._id = 0

    def call(self, method, node=None, args=(), kwargs=None):
        self._id += 1
        req = {"id": self._id, "node": node, "method": method, "args": list(args)}
        if kwargs:
            req["kwargs"] = kwargs
        # Paths and other objects go as their str(), as NixOS formats them.
        self._sock.sendall(json.dumps(req, default=str).encode() + b"\n")
        line = self._in.readline()
        if not line.endswith(b"\n"):
            # The engine stopped the test (Ctrl-C, its timeout): nothing to add.
            os._exit(3)
        ans = json.loads(line.decode("utf-8", "replace"))
        if ans.get("id") != self._id:
            raise ProtocolError(f"answer {ans.get('id')} to request {self._id}")
        err = ans.get("error")
        if err is not None:
            exc = _ERRORS.get(err.get("type"), RuntimeError)(err.get("message", ""))
            exc.node = node
            raise exc
        return ans.get("ok")


_engine = None  # set by main()
_conditions = []  # the polling conditions in force


def _unit_info(text):
    """systemctl show's KEY=VALUE lines as a dict, as NixOS's get_unit_info."""
    pat = re.compile(r"^([^=]+)=(.*)$")
    return dict(m.groups() for m in map(pat.match, text.split("\n")) if m)


# How a method's answer becomes what NixOS returns.
_CONVERT = {
    "is_up": lambda v: v == "true",
    "get_unit_info": _unit_info,
    "get_window_names": lambda v: v.splitlines(),
}


# NixOS formats a tty into a path, so get_tty_text(1) works there too.
_TTY_METHODS = ("get_tty_text", "wait_until_tty_matches", "dump_tty_contents")


def _method(name):
    conv = _CONVERT.get(name)

    def call(self, *args, **kwargs):
        for cond in _conditions:
            cond.maybe_raise()
        if name in _TTY_METHODS:
            args = tuple(str(a) if i == 0 else a for i, a in enumerate(args))
            if "tty" in kwargs:
                kwargs["tty"] = str(kwargs["tty"])
        value = _engine.call(name, self.name, args, kwargs)
        if isinstance(value, list):
            value = tuple(value)
        return conv(value) if conv else value

    call.__name__ = name
    return call


class Machine:
    """One node of the test (NixOS's Machine); methods are the engine's table."""

    def __init__(self, name, vlans):
        self.name = name
        self.vlans = vlans

    def __repr__(self):
        return f"<Machine '{self.name}'>"

    def log(self, msg):
        _engine.call("_log", self.name, [str(msg)])

    def nested(self, msg, attrs=None):
        return _nested(str(msg), self.name)


BaseMachine = Machine


@contextlib.contextmanager
def _nested(msg, node=None):
    _engine.call("_nest", node, [msg])
    try:
        yield
    finally:
        _engine.call("_end")


class Logger:
    """NixOS's `log`: lines and nested blocks in microvmtest's log."""

    def log(self, message, attributes=None):
        node = (attributes or {}).get("machine")
        _engine.call("_log", node, [str(message)])

    def info(self, *args, **kwargs):
        self.log(*args, **kwargs)

    warning = error = info

    def nested(self, message, attributes=None):
        return _nested(str(message), (attributes or {}).get("machine"))

    def print_serial_logs(self, enable):
        _engine.call("serial_stdout_on" if enable else "serial_stdout_off")


class VLan:
    def __init__(self, nr):
        self.nr = nr

    def __repr__(self):
        return f"<Vlan Nr. {self.nr}>"


class AssertionTester(unittest.TestCase):
    """`t`: unittest's assertions, failing as NixOS's do."""

    failureException = RequestedAssertionFailed


def pythonize_name(name):
    return re.sub(r"^[^A-Za-z_]|[^A-Za-z0-9_]", "_", name)


@contextlib.contextmanager
def subtest(name):
    """A named block: its own JUnit testcase; its failure is logged and raised."""
    _engine.call("_subtest", None, [str(name)])
    try:
        yield
    except Exception as e:
        _engine.call("_end", None, [f'Test "{name}" failed with error: "{e}"'])
        raise
    except BaseException:
        _engine.call("_end", None, [f'Test "{name}" was interrupted'])
        raise
    _engine.call("_end")


def retry(fn, timeout_seconds=900):
    """Call fn(last_try) until it returns true, as NixOS's retry(); the pause
    grows from 10 ms to 100 ms as the engine's waits do."""
    end = time.monotonic() + timeout_seconds
    pause = 0.01
    while time.monotonic() < end:
        if fn(False):
            return
        time.sleep(min(pause, max(0.0, end - time.monotonic())))
        pause = min(pause * 1.5, 0.1)
    if not fn(True):
        raise RequestedAssertionFailed(f"action timed out after {timeout_seconds} seconds")


class PollingCondition:
    """A check that must keep holding while machine methods run (NixOS's)."""

    def __init__(self, condition, seconds_interval=2.0, description=None):
        self.condition = condition
        self.seconds_interval = seconds_interval
        if description is None:
            description = condition.__doc__ or condition.__name__
        self.description = str(description)
        self.last_called = float("-inf")
        self.entered = 0

    def check(self, force=False):
        overdue = self.last_called + self.seconds_interval < time.monotonic()
        if (self.entered or not overdue) and not force:
            return True
        self.entered += 1
        try:
            with _nested(f"Checking polling condition {self.description!r}"):
                since = time.monotonic() - self.last_called
                log.info(f"Time since last: {since:.2f}s" if since != float("inf")
                         else "(not called yet)")
                try:
                    res = self.condition()
                except Exception:
                    res = False
                res = res is None or bool(res)
                log.info(self.status_message(res))
                return res
        finally:
            self.entered -= 1
            self.last_called = time.monotonic()

    def maybe_raise(self):
        if not self.check():
            raise PollingConditionError(self.status_message(False))

    def status_message(self, ok):
        return f"Polling condition {'succeeded' if ok else 'failed'}: {self.description}"


class _Poll:
    def __init__(self, fun, seconds_interval, description):
        self.condition = PollingCondition(fun, seconds_interval, description)

    def __enter__(self):
        _conditions.append(self.condition)

    def __exit__(self, *exc):
        assert _conditions.pop() is self.condition

    def wait(self, timeout=900):
        desc = self.condition.description

        def ok(last):
            if last:
                log.info(f"Last chance for {desc}")
            res = self.condition.check(force=True)
            if not res and not last:
                log.info(f"({desc} failure not fatal yet)")
            return res

        with _nested(f"waiting for {desc}"):
            retry(ok, timeout)


def polling_condition(fun_=None, *, seconds_interval=2.0, description=None):
    if fun_ is None:
        return lambda fun: _Poll(fun, seconds_interval, description)
    return _Poll(fun_, seconds_interval, description)


def create_machine(*args, **kwargs):
    raise NotImplementedError(
        "create_machine is not supported by microvmtest: give every node in the "
        'test.json\'s "nodes"')


def _global(name):
    def call(*args, **kwargs):
        return _engine.call(name, None, args, kwargs)

    call.__name__ = name
    return call


class _Debug:
    def breakpoint(self, *args, **kwargs):
        pass


class Driver:
    """`driver`: the run's machines, vlans and functions, as in NixOS."""

    def __init__(self, hello, machines, vlans, symbols):
        self.tests = hello["script"]
        self.global_timeout = hello["timeout"]
        self.machines = machines
        self.vlans = vlans
        self.polling_conditions = _conditions
        self._symbols = symbols
        for k in ("start_all", "join_all", "serial_stdout_on", "serial_stdout_off",
                  "polling_condition", "create_machine"):
            if k in symbols:
                setattr(self, k, symbols[k])

    def subtest(self, name):
        return subtest(name)

    def test_script(self):
        """Run the test script (run_tests() at the prompt)."""
        with _nested("run the VM test script"):
            exec(compile(self.tests, SCRIPT, "exec"), self._symbols)

    def run_tests(self):
        self.test_script()


def _symbols(hello):
    machines, by_name = [], {}
    for n in hello["nodes"]:
        m = Machine(n["name"], n["vlans"])
        machines.append(m)
        by_name[pythonize_name(m.name)] = m
    nrs = sorted({v for n in hello["nodes"] for v in n["vlans"]})
    vlans = [VLan(nr) for nr in nrs]
    g = {"__name__": "__main__", "__builtins__": __builtins__}
    for meth in hello["methods"]:
        if meth["global"]:
            if meth["name"] != "log":  # `log` is the logger, as in NixOS
                g[meth["name"]] = _global(meth["name"])
        else:
            setattr(Machine, meth["name"], _method(meth["name"]))
    g.update(machines=machines, machines_qemu=machines, machines_nspawn=[], vlans=vlans,
             log=log, os=os, t=AssertionTester(), retry=retry, subtest=subtest,
             polling_condition=polling_condition, create_machine=create_machine,
             BaseMachine=BaseMachine, debug=_Debug(),
             RequestedAssertionFailed=RequestedAssertionFailed)
    driver = Driver(hello, machines, vlans, g)
    g.update(driver=driver, run_tests=driver.run_tests, test_script=driver.test_script)
    g.update({f"vlan{v.nr}": v for v in vlans})
    g.update(by_name)
    if len(machines) == 1:
        g["machine"] = machines[0]
    return g


log = Logger()


def _breakpoint_hook(interactive):
    def hook(*args, **kwargs):
        frame = sys._getframe(1)
        where = f"testScript line {frame.f_lineno}"
        if not interactive and not os.isatty(0):
            log.info(f"breakpoint at {where} skipped: stdin is not a terminal "
                     "(use --interactive)")
            return
        log.info(f"breakpoint at {where}: a Python prompt (pdb) over the script's "
                 'globals; "c" continues')
        import pdb
        pdb.Pdb().set_trace(frame)

    return hook


def _report(exc, source):
    """Log exc as NixOS does (the script's frames only), then the usual lines."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SCRIPT]
    lines = ["Traceback (most recent call last):"]
    for entry in traceback.format_list(frames):
        lines += entry.rstrip("\n").split("\n")
    text = str(exc)
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    lines += [""] + summary.splitlines()
    for line in lines:
        _engine.call("_fail", None, [line])
    lineno = frames[-1].lineno if frames else 0
    src = source.splitlines()[lineno - 1].strip() if 0 < lineno <= len(source.splitlines()) else ""
    msg = text if isinstance(exc, TestScriptError) and text else summary
    node = getattr(exc, "node", None)
    _engine.call("_failed", node, [msg.split("\n")[0], lineno, src])


def check(source):
    """`microvmtest check`: 0, or 1 with "line N: ..." on stdout."""
    try:
        compile(source, SCRIPT, "exec")
    except SyntaxError as e:
        text = (e.text or "").strip()
        print(f"line {e.lineno}: SyntaxError: {e.msg}" + (f": {text}" if text else ""))
        return 1
    except ValueError as e:  # a NUL byte
        print(f"line 1: {e}")
        return 1
    return 0


def run(fd):
    global _engine
    _engine = _Engine(fd)
    hello = _engine.call("_hello")
    source = hello["script"]
    # pdb and tracebacks show the script's lines from here.
    linecache.cache[SCRIPT] = (len(source), None, source.splitlines(True), SCRIPT)
    g = _symbols(hello)
    sys.breakpointhook = _breakpoint_hook(hello["interactive"])
    if hello["interactive"]:
        code.interact(banner="microvmtest: the testScript's globals; run_tests() runs "
                      "it, Ctrl-D ends", local=g, exitmsg="")
        return 0
    try:
        exec(compile(source, SCRIPT, "exec"), g)
    except SystemExit as e:
        if e.code in (None, 0):
            return 0
        _report(e, source)
        return 1
    except BaseException as e:
        _report(e, source)
        return 1
    return 0


def main(argv):
    if argv[1:] == ["--check"]:
        return check(sys.stdin.read())
    if len(argv) == 3 and argv[1] == "--fd":
        return run(int(argv[2]))
    print("usage: microvmtest_driver.py --fd N | --check (run by microvmtest)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
