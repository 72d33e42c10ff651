"""Bring the local stack up, report on it, take it down.

``up`` is idempotent: running services are left alone, stopped ones are started, and the
generated configuration is rewritten. Services start in waves: every service whose
dependencies are ready is spawned at once, so the JVMs warm up side by side.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass

from stack import envfile
from stack.config import StackConfig
from stack.process import PidRecord, StackError, port_in_use, spawn, stop, tail, wait_until
from stack.secrets import Secrets
from stack.services import build_services
from stack.services.airflow import AirflowRuntime
from stack.services.base import Service
from stack.services.spark import SparkRuntime


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "ready", "starting", "stopped", "dead"
    pid: int | None
    where: str
    log_file: str
    #: Started only when named (the Spark cluster): stopped is its normal state.
    on_demand: bool = False

    @property
    def healthy(self) -> bool:
        return self.state == "ready" or (self.on_demand and self.state == "stopped")


def _at(svc: Service) -> str:
    return f" on 127.0.0.1:{svc.port}" if svc.port is not None else ""


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig.from_env()
        self.secrets = Secrets.load_or_create(self.config.home)
        self.services: dict[str, Service] = {
            svc.name: svc for svc in build_services(self.config, self.secrets)
        }
        # Parts of the stack that are not servers: only artifacts and settings.
        self.runtimes = [SparkRuntime(self.config), AirflowRuntime(self.config, self.secrets)]

    # -- selection -------------------------------------------------------------------------
    def _select(self, names: Iterable[str] | None) -> list[Service]:
        if not names:  # everything but what only starts when named (the Spark cluster)
            return [svc for svc in self.services.values() if not getattr(svc, "on_demand", False)]
        unknown = sorted(set(names) - set(self.services))
        if unknown:
            raise StackError(
                f"unknown service(s) {', '.join(unknown)}; known: {', '.join(self.services)}"
            )
        wanted = set(names)
        # Dependencies come along: starting the registry needs its storage. So do companions,
        # which start in the same wave: a Kafka node needs its peers for a quorum.
        changed = True
        while changed:
            changed = False
            for name in list(wanted):
                svc = self.services[name]
                for dep in (*getattr(svc, "depends_on", ()), *getattr(svc, "companions", ())):
                    if dep not in wanted:
                        wanted.add(dep)
                        changed = True
        return [svc for name, svc in self.services.items() if name in wanted]

    def _record(self, svc: Service) -> PidRecord | None:
        record = PidRecord.read(self.config.pid_file(svc.name))
        return record if record is not None and record.alive() else None

    # -- commands --------------------------------------------------------------------------
    def fetch(self, names: Iterable[str] | None = None) -> None:
        names = list(names or ())
        runtime_names = {r.name for r in self.runtimes}
        for runtime in self.runtimes:
            if not names or runtime.name in names:
                runtime.fetch()
        service_names = [n for n in names if n not in runtime_names]
        if names and not service_names:
            return
        for svc in self._select(service_names):
            svc.fetch()

    def up(self, names: Iterable[str] | None = None, *, echo=print) -> list[str]:
        """Start what is not running; return the names of the services started now."""
        selected = self._select(names)
        self.config.home.mkdir(parents=True, exist_ok=True)
        to_start = [svc for svc in selected if self._record(svc) is None]
        for svc in to_start:
            for key in svc.port_keys:
                port = self.config.ports[key]
                if port_in_use(port):
                    raise StackError(
                        f"{svc.name}: port {port} on 127.0.0.1 is already in use by another "
                        f"process; stop it or choose another port with HOVER_{key.upper()}_PORT"
                    )
        for svc in to_start:
            svc.fetch()
        for runtime in self.runtimes:
            runtime.fetch()
        for svc in to_start:
            svc.prepare()

        started: list[str] = []
        pending = list(to_start)
        ready = {svc.name for svc in selected if svc not in to_start}
        # A service's objects (topics, buckets, databases) exist before anything that
        # depends on it starts: an ingest instance is only ready once its topics exist.
        for svc in selected:
            if svc.name in ready:
                svc.bootstrap()
        while pending:
            wave = [
                svc for svc in pending if set(getattr(svc, "depends_on", ())) <= ready
            ]
            if not wave:
                raise StackError(f"unsatisfiable dependencies among {[s.name for s in pending]}")
            for svc in wave:
                self._spawn(svc)
                started.append(svc.name)
            for svc in wave:
                self._await_ready(svc)
                svc.bootstrap()
                echo(f"  {svc.name:<22} ready   {svc.describe()}")
                ready.add(svc.name)
                pending.remove(svc)
        self.write_environment()
        return started

    def _spawn(self, svc: Service) -> None:
        launch = svc.launch()
        if getattr(svc, "wants_stack_environment", False):
            launch.env.update(self.environment())
        log = svc.log_file
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"\n===== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {svc.name}\n")
        try:
            spawn(
                launch.argv,
                log_file=log,
                pid_file=self.config.pid_file(svc.name),
                env=launch.env,
                cwd=launch.cwd,
                user=svc.run_as(),
            )
        except (StackError, OSError) as exc:
            raise StackError(
                f"{svc.name} failed to start{_at(svc)}: {exc}\n"
                f"log: {log}\n{tail(log)}"
            ) from exc

    def _await_ready(self, svc: Service) -> None:
        timeout = getattr(svc, "ready_timeout", None) or self.config.ready_timeout
        died = False

        def probe() -> bool:
            nonlocal died
            if self._record(svc) is None:
                died = True
                return True
            return svc.is_ready()

        ok = wait_until(probe, timeout, interval=0.25)
        if died:
            raise StackError(
                f"{svc.name} exited during start-up{_at(svc)}; log: {svc.log_file}\n"
                f"{tail(svc.log_file)}"
            )
        if not ok:
            raise StackError(
                f"{svc.name} did not become ready{_at(svc)} within {timeout:.0f}s; "
                f"it is still running (stop it with 'bin/stack down'); log: {svc.log_file}\n"
                f"{tail(svc.log_file)}"
            )

    def down(self, names: Iterable[str] | None = None, *, echo=print) -> list[str]:
        """Stop the services this stack started; return the names actually stopped."""
        stopped: list[str] = []
        # Only the named services: stopping nginx must not take Kafka down with it.
        names = list(names or ())
        unknown = sorted(set(names) - set(self.services))
        if unknown:
            raise StackError(f"unknown service(s) {', '.join(unknown)}")
        selected = [s for n, s in self.services.items() if not names or n in names]
        for svc in reversed(selected):
            pid_file = self.config.pid_file(svc.name)
            record = PidRecord.read(pid_file)
            if record is None:
                continue
            if stop(record, sig=svc.stop_signal, timeout=svc.stop_timeout, group=svc.signal_group):
                echo(f"  {svc.name:<22} stopped (pid {record.pid})")
                stopped.append(svc.name)
            else:
                echo(f"  {svc.name:<22} was not running (stale pid file removed)")
            pid_file.unlink(missing_ok=True)
        if not stopped:
            echo("nothing to stop: no service of this stack is running")
        return stopped

    def status(self) -> list[ServiceStatus]:
        result = []
        for svc in self.services.values():
            pid_file = self.config.pid_file(svc.name)
            raw = PidRecord.read(pid_file)
            alive = raw is not None and raw.alive()
            if alive:
                state = "ready" if svc.is_ready() else "starting"
            elif raw is not None:
                state = "dead"  # it was started and is gone: the log says why
            else:
                state = "stopped"
            result.append(
                ServiceStatus(
                    name=svc.name,
                    state=state,
                    pid=raw.pid if alive else None,
                    where=svc.describe(),
                    log_file=str(svc.log_file),
                    on_demand=getattr(svc, "on_demand", False),
                )
            )
        return result

    def resources(self, interval: float = 2.0) -> dict[str, dict[str, float]]:
        """Memory (MiB) and CPU (% of one core, averaged over ``interval``) of each running
        service, its child processes included (Elasticsearch runs two JVMs, Airflow's
        scheduler forks workers). Memory is PSS where the kernel reports it: pages shared
        between forked processes are split among them instead of counted in each."""
        import psutil

        trees: dict[str, list] = {}
        for svc in self.services.values():
            record = self._record(svc)
            if record is None:
                continue
            try:
                root = psutil.Process(record.pid)
                trees[svc.name] = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        for procs in trees.values():
            for proc in procs:
                proc.cpu_percent(None)  # first call only starts the measurement
        time.sleep(interval)
        usage: dict[str, dict[str, float]] = {}
        for name, procs in trees.items():
            rss = pss = cpu = 0.0
            for proc in procs:
                try:
                    full = proc.memory_full_info()
                    rss += full.rss
                    pss += getattr(full, "pss", full.rss)
                    cpu += proc.cpu_percent(None)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            usage[name] = {"pss_mib": round(pss / 2**20, 1), "rss_mib": round(rss / 2**20, 1),
                           "cpu_percent": round(cpu, 1)}
        return usage

    def reset(self, *, echo=print) -> None:
        """Stop everything and delete all state (caches of artifacts are kept)."""
        self.down(echo=echo)
        shutil.rmtree(self.config.home, ignore_errors=True)
        echo(f"removed {self.config.home}")

    def environment(self) -> dict[str, str]:
        values = {
            "HOVER_STACK_HOME": str(self.config.home),
            "HOVER_N_PART": str(self.config.n_part),
            # The key sensors (and the simulator) of this stack use against the ingest API.
            "HOVER_INGEST_API_KEYS": self.secrets.ingest_api_key,
        }
        for part in [*self.services.values(), *self.runtimes]:
            values.update(part.environment())
        return values

    def write_environment(self) -> None:
        envfile.write(self.config.env_file, self.environment())
