"""The compose orchestrator: converge the engine's containers to a Project.

It drives the engine facade (rootless.engine.containers.*, networks, volumes, images,
build), never the CLI. Containers are found by their compose labels (project_state.py);
a container whose config-hash label or image id differs from the project's is
recreated, everything else is left alone, so `up` twice changes nothing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rootless.compose import labels as L
from rootless.compose import resources
from rootless.compose.convert import image_name, to_runspec
from rootless.compose.model import Project, Service
from rootless.compose.project_state import Existing, by_service, project_containers
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.state import ContainerState
from rootless.engine.runspec import RunSpec
from rootless.errors import EngineError, NotFound, UsageError
from rootless.paths import Paths

S = ContainerState
Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def human_size(n: float) -> str:
    """Docker's decimal units: 2140160 -> 2.14MB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return str(n)


class DependencyFailed(EngineError):
    pass


F = TypeVar("F", bound=Callable[..., Any])


def serialized(method: F) -> F:
    """Hold the project's lock for the call, so two `up`/`down` of one project never
    interleave (re-entrant: `up` calls create and start, `run` calls up)."""

    @functools.wraps(method)
    def wrapper(self: Orchestrator, *args: Any, **kw: Any) -> Any:
        if self._lock_depth:
            return method(self, *args, **kw)
        from rootless.fsutil import locked

        with locked(self.paths.locks / f"compose-{self.project.name}.lock"):
            self._lock_depth += 1
            try:
                return method(self, *args, **kw)
            finally:
                self._lock_depth -= 1

    return wrapper  # type: ignore[return-value]


@dataclass
class ConvergeOptions:
    build: bool = False  # --build: rebuild images first
    no_build: bool = False  # --no-build: a missing image is an error, not a build
    force_recreate: bool = False
    no_recreate: bool = False
    no_deps: bool = False
    remove_orphans: bool = False
    scale: dict[str, int] = field(default_factory=dict)


class Orchestrator:
    def __init__(self, paths: Paths, project: Project, say: Say = _stderr) -> None:
        self.paths = paths
        self.project = project
        self.say = say
        self._ctx: Ctx | None = None
        self._warned: set[str] = set()
        self._lock_depth = 0

    @property
    def ctx(self) -> Ctx:
        """The containers service context (joins the user namespace on first use)."""
        if self._ctx is None:
            from rootless.engine.containers.context import open_ctx

            self._ctx = open_ctx(self.paths)
        return self._ctx

    # ---- selection ---------------------------------------------------------------
    def order(self, services: Iterable[str] = (), *, with_deps: bool = True) -> list[str]:
        """Selected services (all when none given) in depends_on order."""
        names = list(services)
        for n in names:
            if n not in self.project.services:
                hint = "enable its profile" if n in self.project.disabled else None
                raise UsageError(f"no such service: {n}", hint=hint)
        if not names:
            return self.project.service_order()
        order = self.project.service_order(names)
        return order if with_deps else [n for n in order if n in names]

    def containers(self, services: Iterable[str] = (), *, oneoff: bool = False) -> list[Existing]:
        wanted = set(services)
        return [
            ex
            for ex in project_containers(self.ctx, self.project.name, oneoff=oneoff)
            if not wanted or ex.service in wanted
        ]

    def orphans(self) -> list[Existing]:
        return [ex for ex in self.containers() if ex.service not in self.project.services]

    def replicas(self, svc: Service, scale: dict[str, int]) -> int:
        return scale.get(svc.name, svc.replicas)

    # ---- create (converge) -------------------------------------------------------
    @serialized
    def create(
        self, services: Iterable[str] = (), opts: ConvergeOptions | None = None
    ) -> list[str]:
        """Make the selected services' containers match the project; their names in
        start order. Nothing is started."""
        opts = opts or ConvergeOptions()
        order = self.order(services, with_deps=not opts.no_deps)
        _ = self.ctx  # join the user namespace before anything else
        resources.ensure_networks(
            self.paths, self.project, resources.used_networks(self.project, order), self.say
        )
        resources.ensure_volumes(
            self.paths, self.project, resources.used_volumes(self.project, order), self.say
        )
        orphans = self.orphans()
        if orphans and opts.remove_orphans:
            for ex in orphans:
                self._remove(ex)
        elif orphans:
            names = ", ".join(sorted({ex.service for ex in orphans}))
            self.say(
                f"WARN: found orphan containers for services ({names}) of project "
                f"{self.project.name}; use --remove-orphans to clean them up"
            )
        have = by_service(self.containers(order))
        out: list[str] = []
        for name in order:
            out += self._converge_service(self.project.services[name], have.get(name, []), opts)
        return out

    def _converge_service(
        self, svc: Service, have: list[Existing], opts: ConvergeOptions
    ) -> list[str]:
        img = resources.ensure_image(
            self.paths,
            self.project,
            svc,
            self.say,
            build_first=opts.build and svc.build is not None,
            no_build=opts.no_build,
        )
        want = self.replicas(svc, opts.scale)
        wanted_hash = L.config_hash(svc)
        names: list[str] = []
        taken: set[int] = set()
        for ex in have:
            if ex.number < 1 or ex.number > want or ex.number in taken:
                self._remove(ex)
                continue
            outdated = ex.config_hash != wanted_hash or ex.record.image_id != img
            if (opts.force_recreate or outdated) and not opts.no_recreate:
                self.say(f"Container {ex.name}  Recreate")
                self._remove(ex, quiet=True)
                names.append(self._create_one(svc, ex.number).name)
                self.say(f"Container {names[-1]}  Recreated")
            else:
                names.append(ex.name)
                self.say(
                    f"Container {ex.name}  Running"
                    if ex.state == S.RUNNING
                    else f"Container {ex.name}  Exists"
                )
            taken.add(ex.number)
        for number in range(1, want + 1):
            if number not in taken:
                rec = self._create_one(svc, number)
                names.append(rec.name)
                self.say(f"Container {rec.name}  Created")
        if want > 1 and svc.container_name:
            raise UsageError(
                f"service {svc.name} has container_name set and cannot scale to {want}"
            )
        return sorted(names, key=lambda n: int(n.rsplit("-", 1)[-1]) if n[-1:].isdigit() else 0)

    def _create_one(self, svc: Service, number: int) -> Record:
        from rootless.engine.containers.create import create

        conv = to_runspec(self.project, svc, number)
        for key in conv.ignored:
            self._warn_once(
                f"{svc.name}:{key}",
                f"service {svc.name}: {key} is not supported yet and was ignored",
            )
        self._check_limits(conv.spec)
        return create(self.ctx, conv.spec)

    def _check_limits(self, spec: RunSpec) -> None:
        """Limits go to the container's cgroup where delegated; else warn once (or fail
        with cgroup_limits = "require")."""
        if not spec.resources or "limits" in self._warned:
            return
        self._warned.add("limits")
        import os

        from rootless.engine.cgroups_hook import check_spec

        check_spec(spec, os.environ.get("ROOTLESS_CGROUP_LIMITS"), self.paths.config)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.say(f"WARN: {message}")

    def _remove(self, ex: Existing, *, quiet: bool = False) -> None:
        from rootless.engine.containers.rm import remove

        try:
            remove(self.ctx, ex.record.id, force=True)
        except NotFound:
            return
        if not quiet:
            self.say(f"Container {ex.name}  Removed")

    # ---- start / stop ------------------------------------------------------------
    @serialized
    def start(self, services: Iterable[str] = (), *, with_deps: bool = True) -> None:
        """Start the selected services' containers in dependency order, waiting for each
        dependency's condition (service_started/healthy/completed_successfully)."""
        order = self.order(services, with_deps=with_deps)
        have = by_service(self.containers(order))
        if not any(have.get(n) for n in order):
            raise NotFound(
                f"project {self.project.name} has no containers to start",
                hint="create them first: rootless compose create (or up)",
            )
        for name in order:
            svc = self.project.services[name]
            self._wait_dependencies(svc, order)
            for ex in have.get(name, []):
                self._start_one(svc, ex)

    def _start_one(self, svc: Service, ex: Existing) -> None:
        from rootless.engine.containers.start import start

        state, _ = self.ctx.state(ex.record)
        if state in (S.RUNNING, S.PAUSED, S.RESTARTING):
            return
        start(self.ctx, ex.record.id)
        self.say(f"Container {ex.name}  Started")

    def _wait_dependencies(self, svc: Service, started: list[str]) -> None:
        from rootless.compose.health import Unhealthy, probe_for, wait_healthy
        from rootless.engine.containers.status import exit_code
        from rootless.engine.containers.waiting import wait_stopped

        for dep, cond in svc.depends_on.items():
            if dep not in self.project.services or dep not in started:
                continue
            recs = [ex.record for ex in self.containers([dep])]
            try:
                if not recs:
                    raise DependencyFailed(f"dependency {dep} of {svc.name} has no container")
                for rec in recs:
                    if cond.condition == "service_healthy":
                        probe = probe_for(self.project.services[dep].healthcheck, rec.image_config)
                        if probe is None:
                            raise DependencyFailed(
                                f"dependency {dep} of {svc.name} has no healthcheck",
                                hint=f"add a healthcheck to {dep} or use service_started",
                            )
                        self.say(f"Container {rec.name}  Waiting")
                        wait_healthy(self.ctx, rec, probe)
                        self.say(f"Container {rec.name}  Healthy")
                    elif cond.condition == "service_completed_successfully":
                        self.say(f"Container {rec.name}  Waiting")
                        _, ms = wait_stopped(self.ctx, rec, None)
                        code = exit_code(ms)
                        if code != 0:
                            raise DependencyFailed(
                                f"service {dep} didn't complete successfully: exit {code}"
                            )
                        self.say(f"Container {rec.name}  Exited")
            except (DependencyFailed, Unhealthy) as e:
                if cond.required:
                    raise DependencyFailed(f"dependency failed to start: {e}") from None
                self.say(f"WARN: optional dependency {dep}: {e}")

    @serialized
    def stop(self, services: Iterable[str] = (), timeout: float | None = None) -> None:
        from rootless.engine.containers.stop import stop

        selected = list(services)
        order = self.order(selected, with_deps=False) if selected else self.order()
        have = by_service(self.containers(order))
        for name in reversed(order):
            for ex in have.get(name, []):
                if ex.state in (S.RUNNING, S.PAUSED, S.RESTARTING):
                    self.say(f"Container {ex.name}  Stopping")
                    stop(self.ctx, ex.record.id, timeout)
                    self.say(f"Container {ex.name}  Stopped")

    @serialized
    def restart(self, services: Iterable[str] = (), timeout: float | None = None) -> None:
        from rootless.engine.containers.manage import restart

        order = self.order(services, with_deps=False)
        have = by_service(self.containers(order))
        for name in order:
            for ex in have.get(name, []):
                self.say(f"Container {ex.name}  Restarting")
                restart(self.ctx, ex.record.id, timeout)
                self.say(f"Container {ex.name}  Started")

    # ---- up / down ---------------------------------------------------------------
    def each_running(
        self, services: Iterable[str], verb: str, act: Callable[[str], object]
    ) -> None:
        """Apply `act(container id)` to the selected services' running containers."""
        for ex in self.containers(self.order(services, with_deps=False)):
            if self.ctx.state(ex.record)[0] in (S.RUNNING, S.PAUSED, S.RESTARTING):
                act(ex.record.id)
                self.say(f"Container {ex.name}  {verb}")

    @serialized
    def remove(
        self, services: Iterable[str] = (), *, stop_first: bool = False, volumes: bool = False
    ) -> list[str]:
        """`rm`: the selected services' stopped containers (-s: stop them first)."""
        if stop_first:
            self.stop(services)
        removed = []
        for ex in self.containers(self.order(services, with_deps=False)):
            if self.ctx.state(ex.record)[0] in (S.RUNNING, S.PAUSED, S.RESTARTING):
                continue  # as docker compose: running ones stay unless -s
            self._remove(ex)
            if volumes:
                resources.remove_anonymous_volumes(self.paths, ex.record)
            removed.append(ex.name)
        return removed

    @serialized
    def up(self, services: Iterable[str] = (), opts: ConvergeOptions | None = None) -> list[str]:
        opts = opts or ConvergeOptions()
        names = self.create(services, opts)
        self.start(services, with_deps=not opts.no_deps)
        return names

    def wait_ready(self, services: Iterable[str] = (), timeout: float | None = None) -> None:
        """--wait: every container running, and healthy where it has a healthcheck."""
        from rootless.compose.health import probe_for, wait_healthy
        from rootless.engine.containers.status import exit_code

        jobs = {  # services others wait on to finish: exited 0 is what they should be
            dep
            for svc in self.project.services.values()
            for dep, cond in svc.depends_on.items()
            if cond.condition == "service_completed_successfully"
        }
        for ex in self.containers(self.order(services)):
            svc = self.project.services.get(ex.service)
            state, ms = self.ctx.state(ex.record)
            if state == S.EXITED and ex.service in jobs and exit_code(ms) == 0:
                continue
            if state != S.RUNNING:
                raise DependencyFailed(f"container {ex.name} is {state.value}, not running")
            probe = probe_for(svc.healthcheck if svc else None, ex.record.image_config)
            if probe is not None:
                wait_healthy(self.ctx, ex.record, probe, timeout=timeout)
                self.say(f"Container {ex.name}  Healthy")

    @serialized
    def down(
        self,
        *,
        volumes: bool = False,
        rmi: str | None = None,
        remove_orphans: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Stop and remove the project's containers (orphans with --remove-orphans), then
        its networks; with -v its named and anonymous volumes; with --rmi its images."""
        every = self.containers(oneoff=True)
        doomed = [ex for ex in every if remove_orphans or ex.service in self.project.services]
        known = self.project.service_order()
        rank = {n: i for i, n in enumerate(known)}
        doomed.sort(key=lambda ex: -rank.get(ex.service, len(known)))
        from rootless.engine.containers.stop import stop

        for ex in doomed:  # dependents first
            if ex.state in (S.RUNNING, S.PAUSED, S.RESTARTING):
                self.say(f"Container {ex.name}  Stopping")
                stop(self.ctx, ex.record.id, timeout)
        for ex in doomed:
            self._remove(ex)
            if volumes:
                resources.remove_anonymous_volumes(self.paths, ex.record)
        resources.remove_networks(self.paths, self.project, self.say)
        if volumes:
            resources.remove_volumes(self.paths, self.project, self.say)
        if rmi:
            resources.remove_images(self.paths, self.project, rmi, self.say)

    # ---- one-off and inspection verbs ------------------------------------------------
    def find(self, service: str, index: int = 1) -> Existing:
        if service not in self.project.services:
            raise UsageError(f"no such service: {service}")
        for ex in self.containers([service]):
            if ex.number == index:
                return ex
        raise NotFound(
            f"service {service} has no container number {index}",
            hint="start it first: rootless compose up -d",
        )

    def running(self, service: str, index: int = 1) -> Existing:
        ex = self.find(service, index)
        if self.ctx.state(ex.record)[0] != S.RUNNING:
            raise EngineError(f"service {service} is not running", hint="rootless compose up -d")
        return ex

    def run(
        self,
        service: str,
        command: list[str] | None,
        *,
        remove: bool = False,
        detach: bool = False,
        no_deps: bool = False,
        env: dict[str, str] | None = None,
        name: str | None = None,
        entrypoint: list[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        service_ports: bool = False,
        tty: bool = False,
        interactive: bool = False,
    ) -> tuple[Record, int | None]:
        """A one-off container for `service` (deps started first unless no_deps)."""
        import secrets

        from rootless.engine.containers.run import run

        self.order([service], with_deps=False)  # validates the name
        svc = self.project.services[service]
        deps = [n for n in self.order([service]) if n != service]
        if deps and not no_deps:
            self.up(deps)
        else:
            resources.ensure_networks(
                self.paths, self.project, resources.used_networks(self.project, [service]), self.say
            )
            resources.ensure_volumes(
                self.paths, self.project, resources.used_volumes(self.project, [service]), self.say
            )
        resources.ensure_image(self.paths, self.project, svc, self.say)
        conv = to_runspec(self.project, svc, 1, oneoff=True)
        spec = conv.spec
        spec.name = name or f"{self.project.name}-{service}-run-{secrets.token_hex(6)}"
        if command:
            spec.command = list(command)
        if entrypoint is not None:
            spec.entrypoint = entrypoint
        spec.env.update(env or {})
        spec.user = user or spec.user
        spec.workdir = workdir or spec.workdir
        spec.remove, spec.detach, spec.tty, spec.interactive = remove, detach, tty, interactive
        spec.restart.name = "no"
        if not service_ports:
            spec.publish = []
        return run(self.ctx, spec)

    def images(self, services: Iterable[str] = ()) -> list[dict[str, str]]:
        from rootless.engine.images import read_store

        store = read_store(self.paths)
        rows = []
        for ex in self.containers(services):
            try:
                img = store.get(ex.record.image_id)
                size = human_size(int(getattr(img, "size", 0) or 0))
            except NotFound:
                size = ""
            repo, _, tag = ex.record.image.rpartition(":")
            if not repo or "/" in tag:
                repo, tag = ex.record.image, "latest"
            rows.append(
                {
                    "Container": ex.name,
                    "Repository": repo,
                    "Tag": tag,
                    "ID": ex.record.image_id[:12],
                    "Size": size,
                }
            )
        return rows

    def default_image(self, svc: Service) -> str:
        return image_name(self.project, svc)
