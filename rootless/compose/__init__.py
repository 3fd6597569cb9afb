"""The compose-spec loader: `load_project(ProjectOptions(...)) -> Project` (typed model).

Modules, in pipeline order: loader (files, env, the pipeline), yamlio (YAML 1.2,
!reset/!override), schema (compose-spec.json), interpolation, shortsyntax (ports,
volumes), extends, include, merge (-f overrides, unicity), names (project name),
normalize (canonical forms, implied content, paths), dotenv, checks (references,
cycles), model (dataclasses, start order), units (durations, sizes). See docs/compose.md.
"""
