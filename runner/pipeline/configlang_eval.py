"""The evaluation of one Jsonnet or Starlark pipeline file, in a process of its own.

``python -m runner.pipeline.configlang_eval`` reads one request (JSON) on stdin, caps its own
address space and CPU time before it imports an interpreter or reads the file, evaluates the
file as Drone does and writes one answer (JSON) on stdout:
``{"text": "<the YAML documents>"}``, ``{"error": "...", "line": n}`` or
``{"budget": "output"|"memory", ...}``. ``runner.pipeline.configlang``
starts it, enforces the wall-clock limit and turns its answer or its death into the result.

- Starlark (drone/drone ``plugin/converter/starlark/starlark.go``, ``Parse``): the file is
  executed, its global ``main`` is called with the context, and a dict is one document, a
  list is one document per item; anything else is refused. ``load()`` is refused
  (``noLoad``: "cannot load external scripts").
- Jsonnet (drone/drone ``plugin/converter/jsonnet/jsonnet.go``, ``Parse``): the build and
  repository arrive as external variables ``build.<field>``/``repo.<field>`` (strings), the
  stack is capped at 500 frames, an array is one document per item (``EvaluateSnippetStream``),
  anything else one document. ``import`` is refused: the file is evaluated alone.
"""

from __future__ import annotations

import json
import re
import resource
import sys
from typing import Any

JSONNET_MAX_STACK = 500
"""Drone's ``vm.MaxStack`` for Jsonnet files."""


class ScriptError(Exception):
    """A file that does not evaluate to pipeline documents; ``line`` is 0 when unknown."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def evaluate(request: dict[str, Any]) -> list[Any]:
    """The documents ``request`` (``language``, ``file``, ``source``, ``build``, ``repo``)
    evaluates to. Raises ``ScriptError``."""
    if request["language"] == "jsonnet":
        return _jsonnet(request["file"], request["source"], request["build"], request["repo"])
    return _starlark(request["file"], request["source"], request["build"], request["repo"])


def _starlark(file: str, source: str, build: dict[str, Any], repo: dict[str, Any]) -> list[Any]:
    import starlark_go

    from runner.pipeline.starlark_fields import fields_as_keys

    thread = starlark_go.Starlark(print=lambda _msg: None)  # Drone logs print() at trace level
    try:
        thread.exec(fields_as_keys(source), filename=file)
        if "main" not in thread.globals():
            raise ScriptError("starlark: missing main function")
        if thread.eval("type(main)") not in ("function", "builtin_function_or_method"):
            raise ScriptError("starlark: main must be a function")
        thread.set(drone_context__={"build": build, "repo": repo, "input": {}})
        thread.exec("drone_result__ = main(drone_context__)", filename=_CALL)
        kind = thread.eval("type(drone_result__)")
        if kind not in ("dict", "list"):
            raise ScriptError(
                f"starlark: main returns an invalid type ({kind}): return a dict or a list"
            )
        result = thread.eval("drone_result__")
    except starlark_go.ConversionToPythonFailed as exc:
        raise ScriptError(f"starlark: main returns a value that is not JSON: {exc}") from None
    except starlark_go.SyntaxError as exc:
        raise ScriptError(f"starlark: {exc.msg}", exc.line) from None
    except starlark_go.ResolveError as exc:
        first = exc.errors[0] if exc.errors else None
        raise ScriptError(
            f"starlark: {first.msg if first else exc}", first.line if first else 0
        ) from None
    except starlark_go.EvalError as exc:
        raise ScriptError(_eval_message(exc, file), _eval_line(exc, file)) from None
    except starlark_go.StarlarkError as exc:
        raise ScriptError(f"starlark: {exc}") from None
    return result if isinstance(result, list) else [result]


_CALL = "<call of main>"


def _eval_line(exc: Any, file: str) -> int:
    """The line of ``file`` where the evaluation failed: the innermost frame in the file."""
    if getattr(exc, "filename", "") == file:
        return int(exc.line or 0)
    lines = re.findall(rf"{re.escape(file)}:(\d+):\d+", str(getattr(exc, "backtrace", "")))
    return int(lines[-1]) if lines else 0


def _eval_message(exc: Any, file: str) -> str:
    backtrace = str(getattr(exc, "backtrace", "") or "")
    # "Traceback ...\n  file:line:col: in fn\nError[ in builtin]: <reason>"
    found = re.search(r"\nError(?: in [^\n:]+)?: (.*)", backtrace, re.DOTALL)
    reason = found.group(1).strip() if found else str(exc)
    if "load not implemented" in reason:
        reason = "cannot load external scripts: load() is refused, keep the pipeline in one file"
    return f"starlark: {reason}"


def _jsonnet(file: str, source: str, build: dict[str, Any], repo: dict[str, Any]) -> list[Any]:
    import _jsonnet

    # mapBuild sets every field of fromBuild but these three (params go as build.param.*)
    ext_vars = {f"build.{k}": _ext(v) for k, v in build.items() if k not in _NOT_EXT_VARS}
    ext_vars.update({f"build.param.{k}": str(v) for k, v in build.get("params", {}).items()})
    ext_vars.update({f"repo.{k}": _ext(v) for k, v in repo.items()})
    try:
        text = _jsonnet.evaluate_snippet(
            file,
            source,
            ext_vars=ext_vars,
            max_stack=JSONNET_MAX_STACK,
            import_callback=_refuse_import,
        )
    except RuntimeError as exc:
        message = str(exc).strip()
        found = re.search(rf"{re.escape(file)}:(\d+)", message)
        first = message.splitlines()[0] if message else "evaluation failed"
        return _raise(f"jsonnet: {first}", int(found.group(1)) if found else 0)
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


_NOT_EXT_VARS = ("params", "cron", "debug")


def _ext(value: Any) -> str:
    """An external variable as Drone sets it: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _refuse_import(_base: str, rel: str) -> tuple[str, bytes]:
    raise RuntimeError(f"imports are refused ({rel}): keep the pipeline in one file")


def _raise(message: str, line: int) -> list[Any]:
    raise ScriptError(message, line)


def _limit(resource_id: int, value: int) -> None:
    _soft, hard = resource.getrlimit(resource_id)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(resource_id, (value, hard))


def render(documents: list[Any]) -> str:
    """The documents as one multi-document file (``---`` before each, JSON being YAML), as
    Drone writes the result of both converters."""
    return "".join(f"---\n{json.dumps(doc, indent=2, ensure_ascii=False)}\n" for doc in documents)


def main() -> None:
    """Read the request, cap this process, evaluate, answer."""
    request = json.loads(sys.stdin.read())
    _limit(resource.RLIMIT_AS, int(request["memory_bytes"]))
    _limit(resource.RLIMIT_CPU, int(request["cpu_seconds"]))
    answer: dict[str, Any]
    try:
        text = render(evaluate(request))
        size = len(text.encode("utf-8"))
        if size > int(request["output_bytes"]):
            answer = {"budget": "output", "size": size}  # never sent: it is over the budget
        else:
            answer = {"text": text}
    except ScriptError as exc:
        answer = {"error": str(exc), "line": exc.line}
    except MemoryError:
        answer = {"budget": "memory"}
    except RecursionError:
        answer = {"error": "the file nests too deeply to be converted", "line": 0}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))


if __name__ == "__main__":
    main()
