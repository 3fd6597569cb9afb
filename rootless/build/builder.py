"""`rootless build`: walk the Dockerfile's stages and turn them into an OCI image.

Each stage starts from an image (local, else pulled), `scratch`, or an earlier stage.
Metadata instructions only change the config; RUN, COPY and ADD make a layer in a
working container (rootless.build.layers), unless the layer cache already holds the
layer for the same key (rootless.build.cache). Only the stages the target needs are
built. Output is podman's: `STEP n/N: ...` per instruction, `--> Using cache`, the
command's own output, `COMMIT`, the image id.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import posixpath
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rootless.build import copier, imageconfig, runstep
from rootless.build.cache import NO_LAYER, BuildCache, LayerRef, step_key
from rootless.build.context import SourceTree
from rootless.build.copyplan import CopyPlan, download, is_url, parse_chmod
from rootless.build.dockerfile import Dockerfile, Stage, find_dockerfile, load, parse_dockerfile
from rootless.build.errors import DockerfileError
from rootless.build.expand import StageScope, expand_from, platform_args, resolve_global_args
from rootless.build.ignore import IgnoreMatcher
from rootless.build.instructions import (
    Add,
    Arg,
    Copy,
    Env,
    From,
    Instruction,
    Maintainer,
    Run,
    Workdir,
)
from rootless.build.layers import (
    commit_image,
    commit_layer,
    image_layers,
    layer_alive,
    working_container,
)
from rootless.build.rootpath import clean_container_path
from rootless.errors import NotFound, UsageError
from rootless.images.store import Image, ImageStore
from rootless.paths import Paths


@dataclass
class BuildOptions:
    context: Path
    dockerfile: str | None = None
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    platform: str | None = None
    network: str = "default"  # RUN's network: default (slirp4netns) | none | host


@dataclass
class StageState:
    """Where a stage stands: its layers, config, history and cache key."""

    key: str
    layers: list[LayerRef]
    config: imageconfig.StageConfig
    history: list[dict[str, Any]]
    architecture: str
    os: str = "linux"
    author: str | None = None

    def fork(self) -> StageState:
        cfg = imageconfig.StageConfig(_deep(self.config.config))
        return StageState(self.key, list(self.layers), cfg, _deep(self.history),
                          self.architecture, self.os, self.author)  # fmt: skip

    @property
    def top(self) -> str | None:
        return self.layers[-1].chain_id if self.layers else None


def _deep(obj: Any) -> Any:
    import copy

    return copy.deepcopy(obj)


def _host_platform() -> tuple[str, str]:
    from rootless.registry.platform import host

    p = host()
    return p.os, p.architecture


class Builder:
    def __init__(
        self, paths: Paths, store: ImageStore, opts: BuildOptions, out: IO[str] | None = None
    ) -> None:
        self.paths = paths
        self.store = store
        self.opts = opts
        self.out = out if out is not None else sys.stdout
        self.cache = BuildCache(paths.data / "build")
        self.context = SourceTree.context(opts.context)
        self.states: dict[int, StageState] = {}
        self.images: dict[str, Image] = {}
        self.df: Dockerfile | None = None
        self.used_args: set[str] = set()

    # ---- output ----
    def say(self, text: str) -> None:
        if not self.opts.quiet:
            print(text, file=self.out, flush=True)

    # ---- entry point ----
    def build(self) -> Image:
        opts = self.opts
        if not opts.context.is_dir():
            raise NotFound(f"build context {opts.context} is not a directory")
        self._check_platform(opts.platform)
        os.umask(0o022)  # created files and directories get Docker's default modes
        df = load(find_dockerfile(opts.context, opts.dockerfile))
        self.df = df
        os_, arch = _host_platform()
        builtins = platform_args(f"{os_}/{arch}")
        globals_ = resolve_global_args(df.global_args, opts.build_args, builtins, df.filename)
        target = df.stage(opts.target)
        needed = self._needed(df, target, globals_)
        for i, stage in enumerate(needed):
            prefix = f"[{i + 1}/{len(needed)}] " if len(needed) > 1 else ""
            self.states[stage.index] = self._build_stage(df, stage, globals_, prefix)
        state = self.states[target.index]
        return self._commit(state)

    def _check_platform(self, platform: str | None) -> None:
        if not platform:
            return
        os_, arch = _host_platform()
        want = platform.split("/")
        if (
            len(want) < 2
            or want[0] != os_
            or want[1] not in (arch, {"x86_64": "amd64"}.get(want[1]))
        ):
            raise UsageError(
                f"platform {platform} is not supported: this builder only builds for {os_}/{arch}",
                hint=f"drop --platform or use {os_}/{arch}",
            )

    # ---- which stages ----
    def _stage_ref(self, df: Dockerfile, name: str, before: int) -> Stage | None:
        for s in df.stages[:before]:
            if s.name == name.lower() or (name.isdigit() and int(name) == s.index):
                return s
        return None

    def _needed(self, df: Dockerfile, target: Stage, globals_: dict[str, str]) -> list[Stage]:
        """The target and the stages it uses (FROM, COPY --from, RUN --mount from=)."""
        want = {target.index}
        todo = [target]
        while todo:
            st = todo.pop()
            refs = [expand_from(st.base, globals_, df.filename).image]
            for ins in st.instructions:
                if isinstance(ins, Copy) and ins.from_:
                    refs.append(ins.from_)
                elif isinstance(ins, Run):
                    refs.extend(m.from_ for m in ins.mounts if m.from_)
            for ref in refs:
                if "$" in ref:  # decided only while building: build every earlier stage
                    for s in df.stages[: st.index]:
                        if s.index not in want:
                            want.add(s.index)
                            todo.append(s)
                    continue
                dep = self._stage_ref(df, ref, st.index)
                if dep is not None and dep.index not in want:
                    want.add(dep.index)
                    todo.append(dep)
        return [s for s in df.stages if s.index in want]

    # ---- images ----
    def _image(self, ref: str) -> Image:
        if ref in self.images:
            return self.images[ref]
        img: Image | None = None
        if not self.opts.pull:
            try:
                img = self.store.get(ref)
            except NotFound:
                img = None
        if img is None:
            img = self._pull(ref)
        self.store.ensure_layers(img)
        self.images[ref] = img
        return img

    def _pull(self, ref: str) -> Image:
        from rootless.registry.config import load as load_registries
        from rootless.registry.platform import host
        from rootless.registry.pull import PullOptions, pull

        self.say(f"Trying to pull {ref}...")
        conf = load_registries(self.paths.config)
        return pull(self.store, conf, ref, PullOptions(platform=host()))

    # ---- one stage ----
    def _base_state(self, base: From) -> StageState:
        name = base.image
        assert self.df is not None
        stage = self._stage_ref(self.df, name, base_index(self.df, base))
        if stage is not None:
            return self.states[stage.index].fork()
        os_, arch = _host_platform()
        if name.lower() == "scratch":
            return StageState(step_key("scratch"), [], imageconfig.StageConfig({}), [], arch, os_)
        img = self._image(name)
        cfg = img.config
        return StageState(
            key=step_key("image", img.id),
            layers=image_layers(self.store, img),
            config=imageconfig.StageConfig(_deep(cfg.get("config") or {})),
            history=_deep(cfg.get("history") or []),
            architecture=str(cfg.get("architecture") or arch),
            os=str(cfg.get("os") or os_),
            author=cfg.get("author"),
        )

    def _build_stage(
        self, df: Dockerfile, stage: Stage, globals_: dict[str, str], prefix: str
    ) -> StageState:
        base = expand_from(stage.base, globals_, df.filename)
        self._check_platform(base.platform)
        total = len(stage.instructions) + 1
        self.say(f"{prefix}STEP 1/{total}: {_shown(stage.base)}")
        state = self._base_state(base)
        state.config.cmd_set = False
        env = state.config.config.get("Env") or []
        scope = StageScope(globals_, self.opts.build_args, env, df.escape, df.filename)
        triggers = list(state.config.config.pop("OnBuild", None) or [])
        for text in triggers:  # the base image's ONBUILD triggers run first
            trigger = parse_dockerfile(f"FROM scratch\n{text}\n", df.filename).stages[0]
            for ins in trigger.instructions:
                self.say(f"{prefix}ONBUILD {text}")
                self._step(state, scope, ins)
        for n, ins in enumerate(stage.instructions, start=2):
            self.say(f"{prefix}STEP {n}/{total}: {_shown(ins)}")
            self._step(state, scope, ins)
        return state

    def _step(self, state: StageState, scope: StageScope, raw: Instruction) -> None:
        ins = scope.apply(raw)
        desc = _describe(ins)
        cfg = state.config
        if isinstance(ins, Run | Copy | Add):
            self._layer_step(state, scope, ins, desc)
            return
        if isinstance(ins, Workdir):
            cfg.apply(ins)
            self._layer_step(state, scope, ins, desc)  # creates the directory if missing
            return
        if isinstance(ins, Env):
            cfg.set_env([(p.key, p.value) for p in ins.pairs])
        elif isinstance(ins, Arg):
            self.used_args.update(a.name for a in ins.args)
            desc += repr(sorted((a.name, scope.args.get(a.name)) for a in ins.args))
        elif isinstance(ins, Maintainer):
            state.author = ins.maintainer
        else:
            cfg.apply(ins)
        state.key = step_key(state.key, desc)
        if not isinstance(ins, Arg):
            state.history.append(_history(f"/bin/sh -c #(nop) {_shown(raw)}", empty=True))

    # ---- RUN / COPY / ADD ----
    def _layer_step(
        self, state: StageState, scope: StageScope, ins: Run | Copy | Add | Workdir, desc: str
    ) -> None:
        """A step that may change files: look its key up in the cache, else do it in a
        working container and commit what changed."""
        cfg = state.config.config
        with ExitStack() as stack:
            action: Callable[[str], set[str] | None]
            if isinstance(ins, Run):
                req, parts = self._run_request(ins, scope, cfg, stack)
                key = step_key(state.key, desc, *parts)
                argv = req.argv
                created_by = "/bin/sh -c " + (argv[-1] if ins.shell_form else repr(argv))
                action = functools.partial(self._run, req)
            elif isinstance(ins, Workdir):
                key = step_key(state.key, desc)
                created_by = f"/bin/sh -c #(nop) WORKDIR {cfg.get('WorkingDir')}"
                action = _nothing  # the directory itself is made below
            else:
                work = self._copy_plan(ins, state, stack)
                key = step_key(state.key, desc, work.checksum)
                created_by = f"/bin/sh -c #(nop) {ins.keyword} {work.summary} in {ins.dest}"
                action = work.apply
            layer = None if self.opts.no_cache else self.cache.get(key)
            if layer is not None and (layer == NO_LAYER or layer_alive(self.store, layer)):
                if not isinstance(ins, Workdir):
                    self.say(f"--> Using cache {layer.chain_id or key}")
            else:
                layer = self._in_container(state, action) or NO_LAYER
                self.cache.put(key, layer)
                if layer != NO_LAYER:
                    self.say(f"--> {layer.diff_id.removeprefix('sha256:')[:12]}")
        if layer != NO_LAYER:
            state.layers.append(layer)
            state.key = step_key(key, layer.diff_id)
        else:
            state.key = key
        state.history.append(_history(created_by, empty=layer == NO_LAYER))

    def _in_container(
        self, state: StageState, action: Callable[[str], set[str] | None]
    ) -> LayerRef | None:
        """Run `action(rootfs)` in a working container on the stage's top layer (with
        the WORKDIR made first, as Docker does) and commit what it changed."""
        workdir = state.config.config.get("WorkingDir") or "/"
        with working_container(self.store, state.top) as (cid, rootfs):
            if workdir != "/":
                copier.makedirs(rootfs, workdir)
            untouched = action(rootfs)
            return commit_layer(self.store, cid, state.layers, untouched)

    def _run_request(
        self, ins: Run, scope: StageScope, cfg: dict[str, Any], stack: ExitStack
    ) -> tuple[runstep.RunRequest, list[str]]:
        """What RUN runs, and the parts of its cache key: argv, the environment (build
        args included), network, user, workdir and the contents of bind mounts."""
        req = runstep.RunRequest(
            argv=_run_argv(ins, cfg),
            env=scope.run_env(),
            workdir=cfg.get("WorkingDir") or "/",
            user=cfg.get("User") or None,
            network=ins.network or self.opts.network,
            mounts=list(ins.mounts),
        )
        parts = [repr(req.argv), repr(sorted(req.env.items())), req.network,
                 str(req.user), req.workdir]  # fmt: skip
        for i, m in enumerate(ins.mounts):
            if m.type != "bind":
                continue
            if m.from_:
                tree, origin = self._from_tree(m.from_, stack)
                parts.append(origin)
            else:
                tree = self.context
                parts.append(tree.checksum(tree.match(m.source or ".")))
            req.bind_roots[i] = tree.root
        return req, parts

    def _run(self, req: runstep.RunRequest, rootfs: str) -> set[str]:
        if self.opts.quiet:
            with open(os.devnull, "wb") as devnull:
                return runstep.run(self.paths, rootfs, req, devnull)
        return runstep.run(self.paths, rootfs, req, sys.stdout.buffer)

    # ---- COPY / ADD planning ----
    def _copy_plan(self, ins: Copy | Add, state: StageState, stack: ExitStack) -> CopyPlan:
        cfg = state.config.config
        dest = clean_container_path(ins.dest, cfg.get("WorkingDir") or "/")
        if ins.dest.endswith("/") or ins.dest in (".", "./"):
            dest = dest.rstrip("/") + "/"
        plan = CopyPlan(dest=dest, chown=ins.chown, chmod=parse_chmod(ins.chmod))
        parts: list[str] = [repr((ins.chown, ins.chmod, dest))]
        if ins.from_:
            tree, origin = self._from_tree(ins.from_, stack)
            plan.keep_owner = True
            parts.append(origin)
        else:
            tree = self.context
        if isinstance(ins, Copy) and ins.parents:
            raise DockerfileError("COPY --parents is not supported by this builder")
        if ins.exclude:  # hidden like .dockerignore entries, for this step only
            extra = IgnoreMatcher.from_text("\n".join(ins.exclude)).patterns
            tree = SourceTree(tree.root, IgnoreMatcher(tree.ignore.patterns + extra))
            parts.append(repr(ins.exclude))
        plan.tree = tree
        for h in ins.heredocs:
            plan.files.append((h.name, h.data.encode()))
            parts.append(f"heredoc:{h.name}:{h.data}")
        names = []
        for src in ins.sources:
            if isinstance(ins, Add) and is_url(src):
                data = download(src)
                if ins.checksum and ins.checksum != "sha256:" + hashlib.sha256(data).hexdigest():
                    raise DockerfileError(
                        f"ADD {src}: checksum mismatch: expected {ins.checksum}, got "
                        f"sha256:{hashlib.sha256(data).hexdigest()}"
                    )
                name = posixpath.basename(src.split("?")[0].rstrip("/")) or "download"
                plan.files.append((name, data))
                plan.url_files.add(name)
                parts.append(f"url:{src}:{hashlib.sha256(data).hexdigest()}")
                names.append(src)
                continue
            matched = tree.match(src)
            plan.sources.extend(matched)
            names.extend(s.rel for s in matched)
        if plan.sources and not ins.from_:
            parts.append(tree.checksum(plan.sources))
        elif plan.sources:
            parts.append(repr([s.rel for s in plan.sources]))
        plan.unpack = isinstance(ins, Add) and ins.unpack is not False
        plan.checksum = step_key("copy", *parts)
        plan.summary = (
            f"{'multi:' if len(names) + len(ins.heredocs) > 1 else 'file:'}" + plan.checksum[:16]
        )
        return plan

    def _from_tree(self, ref: str, stack: ExitStack) -> tuple[SourceTree, str]:
        """The tree a `--from` reads: an earlier stage's rootfs, else an image's."""
        assert self.df is not None
        stage = self._stage_ref(self.df, ref, len(self.df.stages))
        if stage is not None and stage.index in self.states:
            st = self.states[stage.index]
            top, origin = st.top, f"stage:{st.key}"
        else:
            img = self._image(ref)
            top, origin = img.top_layer, f"image:{img.id}"
        _, rootfs = stack.enter_context(working_container(self.store, top))
        return SourceTree(rootfs), origin

    # ---- the image ----
    def _commit(self, state: StageState) -> Image:
        from rootless.images import reference
        from rootless.images.create import now_rfc3339

        cfg = dict(state.config.config)
        if self.opts.labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.opts.labels}
        names = []
        for tag in self.opts.tags:
            names.append(reference.parse(tag, default_registry=reference.LOCALHOST).tagged)
        final_key = step_key(state.key, "commit", repr(sorted(self.opts.labels.items())))
        image_id = None if self.opts.no_cache else self.cache.get_image(final_key)
        image: Image | None = None
        if image_id and self.store.exists(image_id):
            image = self.store.get(image_id)
            for n in names:
                self.store.tag(image.id, n)
            image = self.store.get(image.id)
        if image is None:
            config: dict[str, Any] = {
                "created": now_rfc3339(),
                "architecture": state.architecture,
                "os": state.os,
                "config": cfg,
                "history": state.history,
            }
            if state.author:
                config["author"] = state.author
            image = commit_image(self.store, state.layers, config, names)
            self.cache.put_image(final_key, image.id)
        for tag in self.opts.tags:
            self.say(f"COMMIT {tag}")
        if not self.opts.tags:
            self.say("COMMIT")
        self.say(f"--> {image.id[:12]}")
        for n in names:
            self.say(f"Successfully tagged {n}")
        unused = sorted(set(self.opts.build_args) - self.used_args - _AUTO_ARGS)
        if unused and not self.opts.quiet:
            print(f"[Warning] one or more build args were not consumed: {unused}", file=sys.stderr)
        return image


_AUTO_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                        "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})  # fmt: skip


def _nothing(rootfs: str) -> None:
    return None


def _run_argv(ins: Run, config: dict[str, Any]) -> list[str]:
    script = ins.script
    if script is not None:  # RUN <<EOF ... EOF: the body is the script
        return [*imageconfig.shell_of(config), script.data]
    if ins.shell_form and ins.heredocs:  # here-docs as inputs of the command
        assert isinstance(ins.cmd, str)
        body = "".join(f"\n{h.data}{h.name}" for h in ins.heredocs)
        return [*imageconfig.shell_of(config), ins.cmd + body]
    return imageconfig.command(ins.cmd, ins.shell_form, config)


def _describe(ins: Instruction) -> str:
    """The expanded instruction as a stable string for the cache key."""
    return repr(dataclasses.replace(ins, line=0, end_line=0, original=""))


def _shown(ins: Instruction) -> str:
    return " ".join(ins.original.split()) if ins.original else ins.keyword


def _history(created_by: str, *, empty: bool) -> dict[str, Any]:
    from rootless.images.create import now_rfc3339

    h: dict[str, Any] = {"created": now_rfc3339(), "created_by": created_by}
    if empty:
        h["empty_layer"] = True
    return h


def base_index(df: Dockerfile, base: From) -> int:
    """The index of the stage whose FROM is `base` (a stage only sees earlier ones)."""
    for s in df.stages:
        if s.base.line == base.line:
            return s.index
    return len(df.stages)
