"""The daemon half of the revision fuzz: ONE running daemon fed the seeded mutation corpus.

Used by tests/integration/test_daemon_fuzz.py (in the suite) and benchmarks/daemon_fuzz.py (the
same table). The daemon is the real composition root (`Daemon.run`) embedded in this event loop
with a fake connection tester (instant, healthy), the real loader and sops with an age key made
here, real SQLite and HTTP; its config directory is a git work tree. Each case of
tests/helpers/revision_fuzz.py is renamed into it file by file as git does (connections.yaml, the
one file sops reads, first), every `commit_every`-th is committed, a reconcile is forced with
`POST /reconcile` and THAT pass is awaited (`ForcedPasses`: a watcher pass may judge the files
first, and writing the next case while the forced pass reads would race it). After each case:
`/healthz` answers; a rejected revision left the applied revision, connections and bots exactly
as they were; no canary in `/status`, `/`, `/metrics` or the logs (captured as the daemon's JSON
lines, each of which must parse). An accepted revision may change things: the base is restored
and awaited, so every case meets the same running daemon (two paper bots, two online connections).
`stream_daemon_fuzz` writes the same corpus back to back instead, judging nothing, to race the
daemon's reads (the sops swap fixed in 585fb64 stalled the loop for the sops timeout there).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import random
import re
import resource
import shutil
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from backfuture_daemon.configuration.revision import probe_revision
from backfuture_daemon.daemon import Daemon
from backfuture_daemon.logs import JsonFormatter, install_redaction
from backfuture_daemon.reconciler.loop import Reconciler
from backfuture_daemon.settings import DaemonSettings, load_settings
from tests.helpers.configrepo import CANARIES, kucoin_connection, mexc_connection, strategy
from tests.helpers.desired import FakeTester
from tests.helpers.processes import ConfigRepo, free_port
from tests.helpers.revision_fuzz import Base, write_case

MAIN, FUTURES = "MEXC Spot Main", "KuCoin Futures Conservative"
BOT, FUTURES_BOT = "BTC ETH New Groups", "Conservative Futures"
#: Every canary of the corpus and of the base repository (a hit anywhere is a leak); exact
#: patterns first, so a canary followed by other bytes (in SQLite pages) is still recognised.
CANARY_RE = re.compile(
    "|".join([r"CANARYfz\d{5}q7", *(re.escape(c) for c in CANARIES), r"CANARY[A-Za-z0-9]*"])
)
#: How long one case may take to be judged before it counts as a hang.
JUDGE_TIMEOUT = 30.0
#: Base + one mutation; `MUTABLE` are the files the corpus mutates.
MUTABLE = ("connections.yaml", "strategies.yaml")


def base_documents(closed_port: int) -> dict[str, dict[str, Any]]:
    """The running config: two healthy connections, two paper bots. Endpoints point at a closed
    loopback port, so the bots' market-data polls fail fast and never leave the machine."""
    url = f"http://127.0.0.1:{closed_port}"
    return {
        "connections.yaml": {
            "version": 1,
            "policy": {"egress_ips": ["203.0.113.10"]},
            "connections": [
                mexc_connection(MAIN, endpoints={"spot": url}),
                kucoin_connection(FUTURES, endpoints={"spot": url, "futures": url}),
            ],
        },
        "strategies.yaml": {
            "version": 1,
            "strategies": [
                strategy(BOT, MAIN, mode="paper"),
                strategy(
                    FUTURES_BOT,
                    FUTURES,
                    market="futures",
                    mode="paper",
                    risk_level="conservative",
                    margin_limit=300,
                ),
            ],
        },
    }


# --- outcome table ---------------------------------------------------------------------------


@dataclass
class CaseOutcome:
    index: int
    kind: str
    result: str  # "accepted", the rejected classes joined by ",", or "crash"
    seconds: float  # from the forced reconcile to the judgement
    committed: bool = False
    crash: str | None = None  # the daemon died, hung, failed a pass, or wrote a traceback
    canary_hits: list[str] = field(default_factory=list)  # "where: canary"
    changed: list[str] = field(default_factory=list)  # what a rejected revision changed
    unexpected: bool = False  # rejected as an unexpected exception (named by type only)
    ran_before: bool = False  # both bots running and both connections online when it came
    carried: bool = False  # the case's canary was in the files the daemon read
    message: str = ""  # the daemon's last_error for it (scrubbed), cut short


@dataclass
class DaemonTable:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    log_lines: int = 0
    bad_log_lines: list[str] = field(default_factory=list)  # not one JSON object, or a traceback
    loop_errors_total: int = 0
    exit_code: int | None = None
    restores: int = 0  # accepted revisions after which the base was restored and awaited
    slowest_pass: float = 0.0  # the longest reconcile pass of the run, in seconds
    public_canaries: int = 0  # canaries accepted revisions made connection or strategy names
    state_files: int = 0  # files of the state directory scanned after shutdown (SQLite, WAL)
    seconds: float = 0.0
    daemon_url: str = ""

    def summary(self) -> dict[str, Any]:
        rejected: Counter[str] = Counter()
        for o in self.outcomes:
            if o.result not in ("accepted", "crash"):
                rejected.update(o.result.split(","))
        slowest = max(self.outcomes, key=lambda o: o.seconds)
        return {
            "cases": len(self.outcomes),
            "accepted": sum(o.result == "accepted" for o in self.outcomes),
            "rejected": sum(o.result not in ("accepted", "crash") for o in self.outcomes),
            "rejected_by_class": dict(sorted(rejected.items())),
            "rejected_unexpected_exception": sum(o.unexpected for o in self.outcomes),
            "committed": sum(o.committed for o in self.outcomes),
            "canaries_carried": sum(o.carried for o in self.outcomes),
            "judged_while_running": sum(o.ran_before for o in self.outcomes),
            "kinds": dict(sorted(Counter(o.kind for o in self.outcomes).items())),
            "crashes": [o for o in self.outcomes if o.crash],
            "canary_hits": [o for o in self.outcomes if o.canary_hits],
            "changed_by_rejected": [o for o in self.outcomes if o.changed],
            "slowest": (slowest.index, slowest.kind, round(slowest.seconds, 3)),
            "slowest_message": f"({slowest.result}: {slowest.message[:100]})",
            "log_lines": self.log_lines,
            "bad_log_lines": len(self.bad_log_lines),
            "loop_errors_total": self.loop_errors_total,
            "exit_code": self.exit_code,
            "restores": self.restores,
            "slowest_pass": round(self.slowest_pass, 3),
            "public_canaries": self.public_canaries,
            "state_files": self.state_files,
            "seconds": round(self.seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }

    def render(self) -> str:
        s = self.summary()
        idx, kind, secs = s["slowest"]
        lines = [
            f"cases            {s['cases']}  ({s['seconds']} s in all, one daemon)",
            f"accepted         {s['accepted']}  (base restored and awaited after {s['restores']})",
            f"rejected         {s['rejected']}",
            *(f"  {cls:22} {n}" for cls, n in s["rejected_by_class"].items()),
            f"  by an unexpected exception (named by type) {s['rejected_unexpected_exception']}",
            f"committed        {s['committed']} (the rest judged as a dirty work tree)",
            f"canaries carried {s['canaries_carried']} cases put their canary in the files read",
            f"while running    {s['judged_while_running']} cases came while both bots ran",
            f"crashes          {len(s['crashes'])}",
            f"canary hits      {len(s['canary_hits'])}  (/status, /, /metrics, logs; after "
            f"shutdown the whole log and {s['state_files']} state files; {s['public_canaries']} "
            "canaries made names by accepted revisions are allowed where names show)",
            f"rejected but changed the daemon  {len(s['changed_by_rejected'])}",
            f"slowest case     #{idx} {kind}: {secs} s {s['slowest_message']}",
            f"slowest pass     {s['slowest_pass']} s (any reconcile pass of the run)",
            f"log lines        {s['log_lines']} JSON lines, {s['bad_log_lines']} bad",
            f"loop errors      {s['loop_errors_total']}",
            f"daemon exit      {s['exit_code']}",
            f"peak RSS         {s['peak_rss_mib']} MiB (this whole process)",
            "cases by kind    " + ", ".join(f"{k} {n}" for k, n in s["kinds"].items()),
        ]
        for o in s["crashes"][:10]:
            lines.append(f"  CRASH #{o.index} {o.kind}: {o.crash}")
        for o in s["canary_hits"][:10]:
            lines.append(f"  CANARY #{o.index} {o.kind}: {o.canary_hits[:3]}")
        for o in s["changed_by_rejected"][:10]:
            lines.append(f"  CHANGED #{o.index} {o.kind} ({o.result}): {o.changed[:3]}")
        return "\n".join(lines)


# --- the live work tree ---------------------------------------------------------------------


def _entry(path: Path) -> tuple[str, Any]:
    """What a directory entry is, comparable across two directories."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return ("missing", None)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo", None)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", None)
    return ("file", path.read_bytes())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def place(case_dir: Path, live: Path, name: str) -> bool:
    """Make `live/name` what `case_dir/name` is, by a rename as git does (a directory cannot be
    renamed over a file: that one entry is removed first). A symlink into the case directory is
    re-pointed at the same name in `live`. True if anything changed."""
    src, dst = case_dir / name, live / name
    kind, value = _entry(src)
    if kind == "link":
        target = Path(value)
        if target.is_absolute() and target.parent == case_dir:
            value = str(live / target.name)
    if (kind, value) == _entry(dst):
        return False
    tmp = live / f".{name}.fuzz-tmp"
    _remove(tmp)
    if kind == "file":
        tmp.write_bytes(value)
    elif kind == "link":
        tmp.symlink_to(value)
    elif kind == "fifo":
        os.mkfifo(tmp)
    elif kind == "dir":
        tmp.mkdir()
    else:
        _remove(dst)
        return True
    if kind == "dir" or _entry(dst)[0] == "dir":
        _remove(dst)  # rename(2) puts no directory over a file, nor anything over a directory
    os.replace(tmp, dst)
    return True


def restore(base: Base, live: Path, name: str) -> bool:
    dst = live / name
    want = base.texts[name].encode()
    if _entry(dst) == ("file", want):
        return False
    tmp = live / f".{name}.fuzz-tmp"
    _remove(tmp)
    tmp.write_bytes(want)
    if _entry(dst)[0] == "dir":
        _remove(dst)
    os.replace(tmp, dst)
    return True


# --- environment and logs --------------------------------------------------------------------


@contextlib.contextmanager
def sops_environment(key_file: Path, home: Path) -> Iterator[None]:
    """The in-process daemon runs sops with this process' environment: only our key, an empty
    HOME (no other identity can decrypt); restored afterwards."""
    saved = dict(os.environ)
    for k in [k for k in os.environ if k.startswith(("SOPS_AGE", "BACKFUTURE_"))]:
        del os.environ[k]
    os.environ["SOPS_AGE_KEY_FILE"] = str(key_file)
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class JsonLines(logging.Handler):
    """Every record of the process as the daemon's JSON log line (redaction filter included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        install_redaction(self)
        self.stream = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
        except Exception:  # a record that cannot be formatted is itself a finding
            self.stream.write(f"UNFORMATTABLE {record.name} {record.levelname}\n")

    def text(self) -> str:
        return self.stream.getvalue()


@contextlib.contextmanager
def captured_logs(level: int) -> Iterator[JsonLines]:
    root = logging.getLogger()
    handler = JsonLines()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def check_log_lines(text: str) -> list[str]:
    """Lines that are not one JSON object, or carry a traceback."""
    bad = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            bad.append(line[:200])
            continue
        if not isinstance(doc, dict) or "Traceback" in line:
            bad.append(line[:200])
    return bad


# --- views of the daemon ---------------------------------------------------------------------


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """What a rejected revision must leave exactly as it was."""
    config = status["config"]
    return {
        "applied_revision": config["applied_revision"],
        "applied_digest": config["applied_digest"],
        "connections": [
            {k: c[k] for k in ("name", "exchange", "status", "healthy", "fingerprint")}
            | {"inputs_digest": c["inputs_digest"]}
            for c in status["connections"]
        ],
        "bots": [
            {
                k: b.get(k)
                for k in ("strategy", "connection", "state", "enabled", "reason", "since", "mode")
            }
            for b in status["bots"]
        ],
    }


def running_shape(status: dict[str, Any]) -> dict[str, Any]:
    """The base's healthy running state, without ids and times (for waiting after a restore)."""
    return {
        # inputs_digest too: after a restore, a re-test with the base's inputs may still be in
        # flight; until it lands, the next case would see it land and call that a change.
        "connections": sorted(
            (c["name"], c["status"], c["inputs_digest"]) for c in status["connections"]
        ),
        "bots": sorted((b["strategy"], b["state"]) for b in status["bots"]),
        "applied_digest": status["config"]["applied_digest"],
        "in_sync": status["config"]["in_sync"],
    }


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for key in before:
        if before[key] != after[key]:
            out.append(f"{key}: {str(before[key])[:300]} -> {str(after[key])[:300]}")
    return out


class Client:
    """HTTP to the embedded daemon (an aiohttp session in the daemon's own event loop)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def get_text(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.url + path) as resp:
            return resp.status, await resp.text()

    async def status(self) -> dict[str, Any]:
        code, text = await self.get_text("/status")
        assert code == 200, code
        doc = json.loads(text)
        assert isinstance(doc, dict)
        return doc

    async def reconcile(self) -> int:
        async with self.session.post(self.url + "/reconcile") as resp:
            await resp.read()
            return resp.status


def reloads(status: dict[str, Any]) -> int:
    return int(sum(status["config"]["reloads_total"].values()))


class ForcedPasses:
    """Counts the loop's forced passes (POST /reconcile, SIGHUP) as they start and end, so the
    harness knows when THE pass its request forced is over: a watcher-triggered pass may judge
    the same files first, and writing the next case while the forced one still reads would
    race it. Also times every pass (`slowest`: a stalled loop shows here, not on /healthz).
    Observes the real `Reconciler.reconcile_once`; changes nothing it does."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.started = 0
        self.done = 0
        self.slowest = 0.0
        original = reconciler.reconcile_once

        async def counted(*, force: bool = False) -> Any:
            t0 = time.perf_counter()
            self.started += force
            try:
                return await original(force=force)
            finally:
                self.done += force
                self.slowest = max(self.slowest, time.perf_counter() - t0)

        setattr(reconciler, "reconcile_once", counted)  # noqa: B010 (an instance attribute)


async def forced_judgement(
    client: Client, passes: ForcedPasses, digest: str | None
) -> tuple[int, dict[str, Any] | None, dict[str, Any]]:
    """POST /reconcile, then the /status once the pass it forced is over and the files with
    `digest` were loaded (None: not in time). Returns (HTTP code, judged status, status before)."""
    before = await client.status()
    count, mark = reloads(before), passes.started
    code = await client.reconcile()
    deadline = time.monotonic() + JUDGE_TIMEOUT
    while time.monotonic() < deadline:
        if passes.done > mark:
            status = await client.status()
            if reloads(status) > count and status["config"]["attempted_digest"] == digest:
                return code, status, before
        await asyncio.sleep(0.003)
    return code, None, before


async def probe_digest(live: Path) -> str | None:
    try:
        return (await asyncio.wait_for(asyncio.to_thread(probe_revision, live), 10)).digest
    except (OSError, TimeoutError):
        return None


# --- the run ---------------------------------------------------------------------------------


@dataclass
class FuzzRun:
    """Everything one run needs: the scratch root, the live repository, the corpus base."""

    root: Path
    repo: ConfigRepo
    base: Base

    @classmethod
    def create(cls, root: Path) -> FuzzRun:
        repo = ConfigRepo(root / "config", base_documents(free_port()))
        texts = {n: (repo.path / n).read_text() for n in (".sops.yaml", *MUTABLE)}
        return cls(root, repo, Base(texts, repo.key_file, root))


async def run_daemon_fuzz(
    root: Path,
    *,
    cases: int,
    seed: int = 8,
    commit_every: int = 10,
    log_level: int = logging.DEBUG,
    progress: Callable[[CaseOutcome], None] | None = None,
) -> DaemonTable:
    """Feed `cases` seeded mutated revisions to one embedded daemon; the outcome table."""
    run = FuzzRun.create(root)
    with sops_environment(run.repo.key_file, root), captured_logs(log_level) as logs:
        fuzz = _Fuzz(run, logs, commit_every, progress)
        await fuzz.run(cases, seed)
    return fuzz.table


def daemon_settings(run: FuzzRun) -> DaemonSettings:
    """Timers out of the way (an hour): only the harness's writes and requests drive passes."""
    return load_settings(
        config_path=run.repo.path,
        state_dir=run.root / "state",
        http="127.0.0.1:0",
        resync_interval_seconds=3600,
        recheck_interval_seconds=3600,
        permanent_recheck_interval_seconds=3600,
        bots_tick_seconds=1.0,
        shutdown_grace_seconds=5,
    )


class _Fuzz:
    def __init__(
        self,
        run: FuzzRun,
        logs: JsonLines,
        commit_every: int,
        progress: Callable[[CaseOutcome], None] | None,
    ) -> None:
        self.run_ = run
        self.live = run.repo.path
        self.logs = logs
        self.commit_every = commit_every
        self.progress = progress
        self.table = DaemonTable()
        self.public: set[str] = set()  # canaries accepted revisions made public (as names)
        self.secret: dict[str, int] = {}  # canary -> case, for every other case

    async def run(self, cases: int, seed: int) -> None:
        started = time.perf_counter()
        daemon = Daemon(daemon_settings(self.run_), tester=FakeTester())
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="fuzz:daemon")
        try:
            await asyncio.wait_for(daemon.started.wait(), 30)
            assert daemon.url is not None
            assert daemon.reconciler is not None
            passes = ForcedPasses(daemon.reconciler)
            timeout = aiohttp.ClientTimeout(total=JUDGE_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                client = Client(session, daemon.url)
                try:
                    await self._cases(client, passes, task, cases, seed)
                finally:
                    self.table.slowest_pass = passes.slowest
                _, metrics = await client.get_text("/metrics")
                # -1 when the series is missing: the assertion then fails instead of passing.
                errors = _metric(metrics, "backfuture_reconcile_errors_total")
                self.table.loop_errors_total = -1 if errors is None else int(errors)
        finally:
            stop.set()
            try:
                self.table.exit_code = await asyncio.wait_for(task, 60)
            except Exception as e:  # the daemon's own exception is a finding, not a test error
                crash = f"daemon ended with {type(e).__name__}"
                self.table.outcomes.append(CaseOutcome(-1, "shutdown", "crash", 0.0, crash=crash))
        self._final_scan()
        self.table.seconds = time.perf_counter() - started

    async def _cases(
        self,
        client: Client,
        passes: ForcedPasses,
        task: asyncio.Task[int],
        cases: int,
        seed: int,
    ) -> None:
        baseline = await self._await_base(client, passes, first=True)
        assert baseline is not None, "the base revision never ran both bots online"
        shape = running_shape(baseline)
        rng = random.Random(seed)
        for i in range(cases):
            outcome, status = await self._case(client, passes, task, rng, i)
            self.table.outcomes.append(outcome)
            if self.progress is not None:
                self.progress(outcome)
            if task.done():
                outcome.crash = outcome.crash or "the daemon died"
                return
            if status is None or status["config"]["applied_digest"] == shape["applied_digest"]:
                continue
            # An accepted revision changed the running config: run the base again, as before.
            self.table.restores += 1
            for name in MUTABLE:
                restore(self.run_.base, self.live, name)
            if await self._await_base(client, passes, want=shape) is None:
                outcome.crash = "the base revision did not run again as before after this one"
                return

    async def _await_base(
        self,
        client: Client,
        passes: ForcedPasses,
        *,
        first: bool = False,
        want: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Wait until the base runs as `want` (first: both bots running, both online)."""
        deadline = time.monotonic() + JUDGE_TIMEOUT
        if not first:
            _, judged, _ = await forced_judgement(client, passes, await probe_digest(self.live))
            if judged is None:
                return None
        while time.monotonic() < deadline:
            status = await client.status()
            shape = running_shape(status)
            if want is not None and shape == want:
                return status
            if want is None and shape["in_sync"] and _all_running(shape):
                return status
            await asyncio.sleep(0.02)
        return None

    async def _case(
        self,
        client: Client,
        passes: ForcedPasses,
        task: asyncio.Task[int],
        rng: random.Random,
        i: int,
    ) -> tuple[CaseOutcome, dict[str, Any] | None]:
        case_dir, kind, canary = write_case(rng, i, self.run_.base, self.run_.root / "cases")
        log_mark = len(self.logs.text())
        carried = any(
            _entry(case_dir / n)[0] == "file" and canary.encode() in (case_dir / n).read_bytes()
            for n in MUTABLE
        )
        try:
            # connections.yaml first: it is the one file sops reads, and no pass is reading now.
            for name in MUTABLE:
                place(case_dir, self.live, name)
        finally:
            shutil.rmtree(case_dir, ignore_errors=True)
        committed = False
        if self.commit_every > 0 and i % self.commit_every == 0:
            try:
                self.run_.repo.commit(f"fuzz case {i}: {kind}")
                committed = True
            except subprocess.CalledProcessError:
                pass  # git refuses some special files (a FIFO): judged as a dirty tree instead
        digest = await probe_digest(self.live)
        t0 = time.perf_counter()
        code, status, before_status = await forced_judgement(client, passes, digest)
        outcome = CaseOutcome(i, kind, "crash", time.perf_counter() - t0, committed)
        outcome.carried = carried
        outcome.ran_before = _all_running(running_shape(before_status))
        if code != 202:
            outcome.crash = f"POST /reconcile answered {code}"
        if status is None:
            outcome.crash = outcome.crash or (
                "the daemon died" if task.done() else f"not judged within {JUDGE_TIMEOUT:.0f} s"
            )
            return outcome, None
        config = status["config"]
        if config["last_error"] is None:
            outcome.result = "accepted"
        else:
            outcome.message = str(config["last_error"])[:300]
            was = before_status["config"]["errors_total"]
            delta = {k for k, n in config["errors_total"].items() if n > was.get(k, 0)}
            outcome.result = ",".join(sorted(delta)) or "rejected"
            outcome.unexpected = any(
                words in config["last_error"] for words in ("while loading", "while reading it")
            )
            outcome.changed = differences(comparable(before_status), comparable(status))
        health, _ = await client.get_text("/healthz")
        if health != 200:
            outcome.crash = outcome.crash or f"/healthz answered {health}"
        texts = {
            "status": json.dumps(status, ensure_ascii=False),
            "page": (await client.get_text("/"))[1],
            "metrics": (await client.get_text("/metrics"))[1],
            "logs": self.logs.text()[log_mark:],
        }
        public = _public_canaries(status) if outcome.result == "accepted" else set()
        self.public |= public
        if canary not in public:
            self.secret[canary] = i
        for where, text in texts.items():
            for hit in sorted(set(CANARY_RE.findall(text))):
                if hit in CANARIES or hit not in self.public:
                    outcome.canary_hits.append(f"{where}: {hit}")
        bad = check_log_lines(texts["logs"])
        if bad:
            outcome.crash = outcome.crash or f"log line: {bad[0]}"
        return outcome, status

    def _final_scan(self) -> None:
        """The whole log once more (lines written between cases, at restores and shutdown), and
        the state directory (SQLite and its WAL) after the daemon stopped."""
        text = self.logs.text()
        self.table.log_lines = len(text.splitlines())
        self.table.bad_log_lines = check_log_lines(text)
        self.table.public_canaries = len(self.public)
        self._scan("final log scan", text)
        state = self.run_.root / "state"
        files = sorted(p for p in state.rglob("*") if p.is_file()) if state.is_dir() else []
        self.table.state_files = len(files)
        for path in files:
            self._scan(f"state {path.name}", path.read_bytes().decode("latin-1"))

    def _scan(self, where: str, text: str) -> None:
        for hit in sorted(set(CANARY_RE.findall(text))):
            if hit in CANARIES or hit not in self.public:
                case = self.secret.get(hit, -1)
                owner = next((o for o in self.table.outcomes if o.index == case), None)
                if owner is None:
                    owner = CaseOutcome(case, where, "crash", 0.0)
                    self.table.outcomes.append(owner)
                if f"{where}: {hit}" not in owner.canary_hits:
                    owner.canary_hits.append(f"{where}: {hit}")


def _all_running(shape: dict[str, Any]) -> bool:
    bots, conns = shape["bots"], shape["connections"]
    return (
        [b for b, _ in bots] == sorted([BOT, FUTURES_BOT])
        and all(s == "running" for _, s in bots)
        and all(c[1] == "online" for c in conns)
    )


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def _public_canaries(status: dict[str, Any]) -> set[str]:
    """Canaries an accepted revision made public on purpose: names (git shows them anyway)."""
    names = [c["name"] for c in status["connections"]]
    names += [f"{b['strategy']} {b['connection']}" for b in status["bots"]]
    return {hit for n in names for hit in CANARY_RE.findall(n)}


# --- streaming: revisions landing while the daemon reads -------------------------------------


@dataclass
class StreamReport:
    """Cases written back to back (random file order and gaps, a POST /reconcile now and then),
    without waiting for any judgement: what a busy repository does to a daemon mid-read."""

    cases: int = 0
    reloads: int = 0
    errors_total: dict[str, int] = field(default_factory=dict)
    healthz_failures: list[str] = field(default_factory=list)
    slowest_healthz: float = 0.0
    slowest_pass: float = 0.0  # the longest reconcile pass: a loop stalled by a read shows here
    loop_errors_total: int = -1
    base_again_seconds: float | None = None  # None: the base never ran as before again
    exit_code: int | None = None
    log_lines: int = 0
    bad_log_lines: list[str] = field(default_factory=list)
    canary_hits: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def render(self) -> str:
        back = "never" if self.base_again_seconds is None else f"{self.base_again_seconds:.2f} s"
        return "\n".join(
            [
                f"streamed cases   {self.cases}  ({self.seconds:.1f} s in all, one daemon)",
                f"loads            {self.reloads} (the daemon coalesces what lands meanwhile)",
                "  " + ", ".join(f"{k} {n}" for k, n in sorted(self.errors_total.items())),
                f"/healthz         {len(self.healthz_failures)} failures, slowest "
                f"{self.slowest_healthz:.3f} s",
                f"slowest pass     {self.slowest_pass:.3f} s",
                f"loop errors      {self.loop_errors_total}",
                f"base runs again  after {back}",
                f"log lines        {self.log_lines} JSON lines, {len(self.bad_log_lines)} bad",
                f"canary hits      {len(self.canary_hits)} {self.canary_hits[:3]}",
                f"daemon exit      {self.exit_code}",
            ]
        )


_NAME_LINE = re.compile(r"^\s*(-\s*)?(name|connection)\s*:")


def _named(case_dir: Path, canary: str) -> bool:
    """The corpus put `canary` where a name goes: an accepted revision may show it (names are
    public); whether it was accepted is unknown while streaming."""
    for name in MUTABLE:
        if _entry(case_dir / name)[0] == "file":
            text = (case_dir / name).read_bytes().decode("utf-8", "replace")
            if any(canary in ln and _NAME_LINE.match(ln) for ln in text.splitlines()):
                return True
    return False


async def stream_daemon_fuzz(
    root: Path, *, cases: int, seed: int = 8, gap: float = 0.02
) -> StreamReport:
    """Write `cases` mutated revisions into one running daemon's work tree back to back (a
    random pause of up to `gap` seconds between them), then restore the base and await it."""
    run = FuzzRun.create(root)
    report = StreamReport()
    started = time.perf_counter()
    with sops_environment(run.repo.key_file, root), captured_logs(logging.DEBUG) as logs:
        daemon = Daemon(daemon_settings(run), tester=FakeTester())
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="fuzz:daemon-stream")
        allowed: set[str] = set()
        try:
            await asyncio.wait_for(daemon.started.wait(), 30)
            assert daemon.url is not None
            assert daemon.reconciler is not None
            passes = ForcedPasses(daemon.reconciler)
            timeout = aiohttp.ClientTimeout(total=JUDGE_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                client = Client(session, daemon.url)
                fuzz = _Fuzz(run, logs, 0, None)
                base = await fuzz._await_base(client, passes, first=True)
                assert base is not None, "the base revision never ran both bots online"
                shape, count = running_shape(base), reloads(base)
                rng = random.Random(seed)
                for i in range(cases):
                    case_dir, kind, canary = write_case(rng, i, run.base, root / "cases")
                    if _named(case_dir, canary):
                        allowed.add(canary)
                    order = MUTABLE if rng.random() < 0.5 else tuple(reversed(MUTABLE))
                    for name in order:
                        place(case_dir, run.repo.path, name)
                    shutil.rmtree(case_dir, ignore_errors=True)
                    if rng.random() < 0.3:
                        await client.reconcile()
                    t0 = time.perf_counter()
                    code, _ = await client.get_text("/healthz")
                    took = time.perf_counter() - t0
                    report.slowest_healthz = max(report.slowest_healthz, took)
                    if code != 200 or task.done():
                        report.healthz_failures.append(f"#{i} {kind}: {code}")
                    report.cases += 1
                    await asyncio.sleep(rng.random() * gap)
                for name in MUTABLE:
                    restore(run.base, run.repo.path, name)
                t0 = time.perf_counter()
                if await fuzz._await_base(client, passes, want=shape) is not None:
                    report.base_again_seconds = time.perf_counter() - t0
                status = await client.status()
                report.reloads = reloads(status) - count
                report.errors_total = dict(status["config"]["errors_total"])
                texts = [json.dumps(status, ensure_ascii=False)]
                texts += [(await client.get_text(p))[1] for p in ("/", "/metrics")]
                errors = _metric(texts[-1], "backfuture_reconcile_errors_total")
                report.loop_errors_total = -1 if errors is None else int(errors)
                report.slowest_pass = passes.slowest
        finally:
            stop.set()
            report.exit_code = await asyncio.wait_for(task, 60)
        text = logs.text()
    report.log_lines = len(text.splitlines())
    report.bad_log_lines = check_log_lines(text)
    for where, body in zip(("status", "page", "metrics", "logs"), [*texts, text], strict=True):
        for hit in sorted(set(CANARY_RE.findall(body))):
            if hit in CANARIES or hit not in allowed:
                report.canary_hits.append(f"{where}: {hit}")
    report.seconds = time.perf_counter() - started
    return report
