"""Loading a compose project: find the files, read the environment, and for each file
parse -> validate (schema) -> interpolate -> check short syntax -> extends; then merge
the files, pick the project name, apply profiles, normalize, check, and type the model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rootless.compose import checks, dotenv, include, interpolation, merge, normalize, schema
from rootless.compose.errors import ComposeError, at
from rootless.compose.extends import apply_extends
from rootless.compose.model import Project, build_project
from rootless.compose.names import project_name
from rootless.compose.shortsyntax import SyntaxProblem, parse_port, parse_volume
from rootless.compose.yamlio import Override, parse

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


@dataclass
class ProjectOptions:
    """What the user asked for; everything optional, as on the docker compose CLI."""

    files: list[str] = field(default_factory=list)  # "-" reads stdin
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    environ: Mapping[str, str] | None = None  # default: os.environ
    cwd: str | None = None  # default: os.getcwd()
    stdin: str | None = None  # text for "-" (default: read sys.stdin)
    dot_env: bool = True  # read <project dir>/.env when no --env-file is given
    resolve_env_files: bool = True  # fold env_file into environment


def find_compose_file(start: Path) -> Path | None:
    """The first default-named file in `start` or the nearest parent that has one."""
    for directory in (start, *start.parents):
        for name in DEFAULT_FILES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


@dataclass
class _Context:
    env: dict[str, str]
    warnings: list[str]
    stdin: str | None
    cache: dict[Path, dict[str, Any]] = field(default_factory=dict)
    models: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # per file


class Loader:
    def __init__(self, options: ProjectOptions) -> None:
        self.opts = options
        self.cwd = Path(options.cwd or os.getcwd())
        self.environ = dict(os.environ if options.environ is None else options.environ)

    # --- files and environment ---------------------------------------------------------

    def _env_from_files(self, directory: Path | None) -> dict[str, str]:
        """OS environment, plus --env-file files (or <dir>/.env); the OS wins."""
        env = dict(self.environ)
        paths = [self._abs(p) for p in self.opts.env_files]
        if not paths and self.opts.dot_env and directory is not None:
            dot = directory / ".env"
            if dot.is_file():
                paths = [dot]
        for path in paths:
            if not path.is_file():
                raise ComposeError(f"env file {path} not found (check --env-file)")
        collected = dotenv.read_files(paths, self.environ)
        for key, value in collected.items():
            env.setdefault(key, value)
        return env

    def _abs(self, path: str) -> Path:
        return Path(os.path.normpath(self.cwd / os.path.expanduser(path)))

    def _files(self) -> tuple[list[str], Path, dict[str, str]]:
        """(compose files, project directory, environment)."""
        opts = self.opts
        explicit_dir = self._abs(opts.project_directory) if opts.project_directory else None
        files = list(opts.files)
        env: dict[str, str] | None = None
        if not files:
            env = self._env_from_files(explicit_dir or self.cwd)
            compose_file = env.get("COMPOSE_FILE")
            if compose_file:
                sep = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
                base = explicit_dir or self.cwd
                files = [str(base / f) for f in compose_file.split(sep) if f]
            else:
                found = find_compose_file(explicit_dir or self.cwd)
                if found is None:
                    raise ComposeError(
                        f"no compose file found in {explicit_dir or self.cwd} or its parents "
                        f"(looked for {', '.join(DEFAULT_FILES)}; use -f FILE)"
                    )
                files = [str(found)]
                for name in OVERRIDE_FILES:
                    if (found.parent / name).is_file():
                        files.append(str(found.parent / name))
                        break
        resolved = [f if f == "-" else str(self._abs(f)) for f in files]
        first = next((f for f in resolved if f != "-"), None)
        directory = explicit_dir or (Path(first).parent if first else self.cwd)
        if env is None or directory != (explicit_dir or self.cwd):
            env = self._env_from_files(directory)
        return resolved, directory, env

    # --- one file ------------------------------------------------------------------------

    def _read(self, name: str, ctx: _Context) -> tuple[str, str]:
        if name == "-":
            text = ctx.stdin if ctx.stdin is not None else sys.stdin.read()
            return "(stdin)", text
        try:
            return name, Path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ComposeError(f"compose file {name} not found (check -f)") from None
        except IsADirectoryError:
            raise ComposeError(f"compose file {name} is a directory (pass the YAML file)") from None
        except OSError as e:
            raise ComposeError(f"compose file {name}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ComposeError(f"compose file {name}: not UTF-8 text") from None

    def _load_file(self, name: str, ctx: _Context, *, extended: bool = False) -> dict[str, Any]:
        key = Path(name)
        if key in ctx.cache:
            return ctx.cache[key]
        source, text = self._read(name, ctx)
        raw = parse(text, source)
        if raw is None:
            raise ComposeError(f"{source}: empty compose file (add a services: section)")
        if isinstance(raw, dict):
            for svc_name, svc in list((raw.get("services") or {}).items()):
                if svc is None:  # `web:` with nothing under it
                    raw["services"][svc_name] = {}
        schema.validate(merge.strip_tags(raw), source)
        if "version" in raw and not extended:
            ctx.warnings.append(f"{source}: the `version` key is obsolete and ignored")
        try:
            model = _interpolate(raw, ctx)
        except interpolation.TreeError as e:
            raise at(source, e.path, e.detail) from None
        _check_short_syntax(model, source)
        here = Path(name) if name != "-" else self.cwd / "(stdin)"
        model = apply_extends(model, here, lambda p: self._load_file(str(p), ctx, extended=True))
        ctx.cache[key] = model
        return model

    # --- the project ---------------------------------------------------------------------

    def load(self) -> Project:
        files, directory, env = self._files()
        ctx = _Context(env=env, warnings=[], stdin=self.opts.stdin)
        merged: dict[str, Any] = {}
        for name in files:
            model = self._load_file(name, ctx)
            here = Path(name) if name != "-" else self.cwd / "(stdin)"
            model = include.apply_includes(model, here, self._included(ctx))
            ctx.models.append(("(stdin)" if name == "-" else name, merge.strip_tags(model)))
            merged = merge.enforce_unicity(merge.merge(merged, model))
        merged = merge.strip_tags(merged)
        locate = _locator(ctx.models)
        merged.pop("version", None)
        merged["name"] = project_name(
            self.opts.project_name, env, merged.get("name"), str(directory)
        )
        checks.check_references(merged, locate)
        active, disabled = self._profiles(merged, env, locate, ctx.warnings)
        merged["services"] = active
        normalized = normalize.normalize(merged, env)
        normalize.resolve_paths(normalized, directory)
        if self.opts.resolve_env_files:
            _fold_env_files(normalized, env, locate)
        checks.check_model(normalized, locate)
        normalized = _ordered(normalized)
        project = build_project(
            normalized,
            working_dir=directory,
            locate=locate,
            disabled={n: normalize.canonical_service(s) for n, s in disabled.items()},
        )
        project.files = files
        project.environment = env
        project.warnings = ctx.warnings
        return project

    def _included(self, ctx: _Context) -> include.LoadIncluded:
        """Load an `include:` entry as its own project model (paths made absolute)."""

        def load(entry: include.IncludeEntry, stack: tuple[Path, ...]) -> dict[str, Any]:
            env = dict(ctx.env)
            for path in entry.env_files:
                if not path.is_file():
                    raise ComposeError(f"env file {path} not found (named by include: env_file)")
            dot = entry.project_directory / ".env"
            extra = entry.env_files or ([dot] if dot.is_file() else [])
            for key, value in dotenv.read_files(extra, ctx.env).items():
                env.setdefault(key, value)
            sub = _Context(env=env, warnings=ctx.warnings, stdin=None)
            merged: dict[str, Any] = {}
            for path in entry.paths:
                model = self._load_file(str(path), sub)
                model = include.apply_includes(model, path, self._included(sub), stack)
                ctx.models.append((str(path), merge.strip_tags(model)))
                merged = merge.enforce_unicity(merge.merge(merged, model))
            merged = merge.strip_tags(merged)
            for svc in (merged.get("services") or {}).values():
                if isinstance(svc.get("build"), dict):  # "." means the include's directory
                    svc["build"].setdefault("context", ".")
            try:
                return normalize.resolve_paths(merged, entry.project_directory)
            except SyntaxProblem as e:
                raise at(str(entry.paths[0]), "services", str(e)) from None

        return load

    def _profiles(
        self, model: dict[str, Any], env: Mapping[str, str], locate: Any, warnings: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        wanted = set(self.opts.profiles)
        if not wanted and env.get("COMPOSE_PROFILES"):
            wanted = {p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip()}
        active: dict[str, Any] = {}
        disabled: dict[str, Any] = {}
        for name, svc in (model.get("services") or {}).items():
            profiles = svc.get("profiles") or []
            if not profiles or "*" in wanted or wanted.intersection(profiles):
                active[name] = svc
            else:
                disabled[name] = svc
        for name, svc in active.items():
            depends = svc.get("depends_on")
            if not depends:
                continue
            mapping = normalize.canonical_service({"depends_on": depends})["depends_on"]
            for dep, cfg in list(mapping.items()):
                if dep in active:
                    continue
                required = (cfg or {}).get("required", True)
                if required:
                    profiles = ", ".join(disabled[dep].get("profiles") or [])
                    raise at(
                        locate(f"services.{name}.depends_on"),
                        f"services.{name}.depends_on.{dep}",
                        f'service "{dep}" is not enabled (enable it with --profile {profiles})',
                    )
                if dep not in disabled:
                    warnings.append(
                        f'service "{name}" has an optional dependency on the unknown service '
                        f'"{dep}", ignored'
                    )
                mapping.pop(dep)
                svc["depends_on"] = mapping
        return active, disabled


def _interpolate(raw: Any, ctx: _Context) -> Any:
    unset: list[str] = []
    out = interpolation.interpolate(raw, ctx.env.get, interpolation.SERVICE_CASTS, unset)
    for name in unset:
        msg = f'the "{name}" variable is not set, defaulting to a blank string'
        if msg not in ctx.warnings:
            ctx.warnings.append(msg)
    return out


def _check_short_syntax(model: Any, source: str) -> None:
    """Ports and volumes in short syntax are parsed here, so errors can name the file."""
    for name, svc in (model.get("services") or {}).items():
        if not isinstance(svc, dict):
            continue
        for key, parse_one in (("ports", parse_port), ("volumes", parse_volume)):
            entries = svc.get(key)
            if isinstance(entries, Override):
                entries = entries.value
            for i, entry in enumerate(entries if isinstance(entries, list) else []):
                if isinstance(entry, str | int) and not isinstance(entry, bool):
                    try:
                        parse_one(str(entry))
                    except SyntaxProblem as e:
                        expect = (
                            "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"
                            if key == "ports"
                            else "expected [SOURCE:]TARGET[:ro|rw|...]"
                        )
                        raise at(source, f"services.{name}.{key}[{i}]", f"{e}; {expect}") from None
                elif isinstance(entry, dict) and key == "ports" and "target" not in entry:
                    raise at(
                        source,
                        f"services.{name}.ports[{i}]",
                        "long syntax needs target: (the container port)",
                    )


def _read_value_files(
    files: list[Any], env: Mapping[str, str], where: tuple[str | None, str]
) -> dict[str, str]:
    """KEY=VALUE files (env_file, label_file) in order, later files winning."""
    values: dict[str, str] = {}
    for entry in files:
        path = entry["path"] if isinstance(entry, dict) else entry
        required = entry.get("required", True) if isinstance(entry, dict) else True
        if not Path(path).is_file():
            if required:
                raise at(
                    where[0],
                    where[1],
                    f"file {path} not found (create it or mark it required: false)",
                )
            continue
        values.update(dotenv.read_file(Path(path), env.get, values))
    return values


def _fold_env_files(model: dict[str, Any], env: Mapping[str, str], locate: Any) -> None:
    """env_file/label_file contents become environment/labels; explicit entries win."""
    for name, svc in (model.get("services") or {}).items():
        for key, target in (("env_file", "environment"), ("label_file", "labels")):
            files = svc.pop(key, None)
            if not files:
                continue
            path = f"services.{name}.{key}"
            values = _read_value_files(files, env, (locate(path), path))
            own = svc.get(target) or {}
            svc[target] = {
                **values,
                **{k: v for k, v in own.items() if v is not None or k not in values},
            }


_TOP_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs", "models")


def _ordered(model: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys in docker compose's order; services and their keys sorted."""
    out = {k: model[k] for k in _TOP_ORDER if k in model}
    out.update({k: v for k, v in model.items() if k not in out})
    if "services" in out:
        out["services"] = {
            name: dict(sorted(svc.items())) for name, svc in sorted(out["services"].items())
        }
    return out


def _locator(models: list[tuple[str, dict[str, Any]]]) -> Any:
    """key path -> the last file that defines the deepest part of it."""

    def parts(path: str) -> list[Any]:
        out: list[Any] = []
        for piece in path.replace("[", ".[").split("."):
            if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
                out.append(int(piece[1:-1]))
            elif piece:
                out.append(piece)
        return out

    def locate(path: str) -> str | None:
        best, best_depth = (models[0][0] if models else None), -1
        for source, model in models:
            node: Any = model
            depth = 0
            for part in parts(path):
                found = (isinstance(node, dict) and part in node) or (
                    isinstance(node, list) and isinstance(part, int) and part < len(node)
                )
                if not found:
                    break
                node = node[part]
                depth += 1
            if depth >= best_depth:
                best, best_depth = source, depth
        return best

    return locate


def load_project(options: ProjectOptions) -> Project:
    return Loader(options).load()
