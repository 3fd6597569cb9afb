"""Dockerfile front end (parser, typed instructions, variable expansion) and builder.

Entry points: `dockerfile.load(path)` / `dockerfile.parse_dockerfile(text)` give a
Dockerfile (global ARGs + stages of typed instructions); `expand.StageScope` applies
Docker's ARG/ENV substitution per instruction; `parser.parse()` is the raw AST with
BuildKit's dump format. Nothing is imported here, so `rootless run` pays nothing.
"""
