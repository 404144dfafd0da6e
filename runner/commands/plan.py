"""``runner plan [FILE...]``: print the compiled plan of pipeline files for one build, locally.

The files (or those a server would read in the current repository) go through the server's
chain for the build the options describe (the same options and context as ``runner exec``),
and ``runner.pipeline.plan`` projects the result: every stage, runnable or why not, and per
stage its services and steps as the agent would receive them, with the ``when`` outcome.
Exit status: 0 with a plan, 1 when the files have errors (printed as ``file:line``), 2 for a
usage error (no file, unreadable file, malformed option).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from runner.commands import exec_context as ectx
from runner.errors import PipelineError, RunnerError
from runner.pipeline.plan import Plan, plan_files

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def register(group: click.Group) -> None:
    """Add ``plan`` to the ``runner`` command group."""
    group.add_command(plan_command)


@click.command("plan")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@ectx.context_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--system-env",
    is_flag=True,
    help="text: list the CI/DRONE_* system variables too (JSON always has them)",
)
def plan_command(files: tuple[str, ...], fmt: str, system_env: bool, **options: Any) -> None:
    """Print the compiled plan for a build; with no FILE, this repository's pipeline files.

    Stages with their platform, dependencies and whether they run; per stage its services and
    steps in order (image, commands, environment with secrets by name, settings, volumes,
    privileges, dependencies) and whether each runs for this event, or why not.
    """
    sys.exit(plan_main(list(files), fmt=fmt, system_env=system_env, **options))


def plan_main(
    files: list[str],
    *,
    fmt: str = "text",
    system_env: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    **options: Any,
) -> int:
    """The body of ``runner plan``, callable in-process; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        directory = ectx.current_dir()
        paths = [Path(f) for f in files] or ectx.find_pipeline_files(directory)
        texts = {str(p): p.read_text(encoding="utf-8") for p in paths}
        inputs = ectx.read_inputs(directory, options)
        plan = plan_files(
            texts,
            inputs.ctx,
            environ=inputs.environ,
            trusted=inputs.ctx.trusted,
            privileged_images=inputs.privileged_images,
        )
    except PipelineError as exc:
        for line in [i.format() for i in exc.issues] or [f"error: {exc}"]:
            err.write(line + "\n")
        return EXIT_ERRORS
    except (RunnerError, OSError, UnicodeDecodeError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    if fmt == "json":
        out.write(json.dumps(plan.to_dict(), indent=2) + "\n")
        return EXIT_OK
    for warning in plan.warnings:
        err.write(warning.format() + "\n")
    out.write(render_text(plan, system_env=system_env))
    return EXIT_OK


def render_text(plan: Plan, *, system_env: bool = False) -> str:
    """The plan as aligned text, stages and steps in the order of the plan."""
    lines: list[str] = []
    for stage in plan.stages:
        state = "runs" if stage["runnable"] else f"not run: {stage['reason']}"
        lines.append(f"stage {stage['name']}  [{stage['platform']}]  {state}")
        details = {
            "depends on": ", ".join(stage["depends_on"]),
            "labels": _pairs(stage["labels"]),
            "matrix": _pairs(stage["matrix"]),
            "workspace": stage["workspace"],
            "runs when": stage["run_policy"] if stage["run_policy"] != "on-success" else "",
        }
        lines += _fields(details, "  ")
        for title in ("services", "steps"):
            if stage[title]:
                lines.append(f"  {title}:")
                lines += _steps(stage[title], stage["workspace"], system_env)
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "no stage\n")


def _steps(steps: list[dict[str, Any]], workspace: str, system_env: bool) -> list[str]:
    """Each step on one line (name, image, outcome), then what it runs with."""
    width = max(len(s["name"]) for s in steps)
    image_width = max(len(s["image"] or "-") for s in steps)
    lines = []
    for step in steps:
        if step["runs"]:
            state = "runs" + (
                f" ({step['run_policy']})" if step["run_policy"] != "on-success" else ""
            )
        else:
            state = f"skipped: {step['skip_reason']}"
        image = step["image"] or "-"
        lines.append(f"    {step['name']:<{width}}  {image:<{image_width}}  {state}")
        if step["kind"] == "clone" or not step["runs"]:
            continue
        hidden = set() if system_env else set(step["system_variables"])
        settings = set(step["settings"])
        own = {k: v for k, v in step["environment"].items() if k not in hidden | settings}
        details = {
            "entrypoint": " ".join(step["entrypoint"] or []),
            "command": " ".join(step["command"] or []),
            "working dir": step["working_dir"] if step["working_dir"] != workspace else "",
            "depends on": ", ".join(step["depends_on"]),
            "volumes": ", ".join(_volume(v) for v in step["volumes"]),
            "privileged": "yes" if step["privileged"] else "",
            "user": step["user"],
            "network": step["network_mode"],
            "detach": "yes" if step["detach"] and step["kind"] != "service" else "",
            "failure": "ignored" if step["failure"] == "ignore" else "",
        }
        lines += _fields(details, "      ")
        lines += _block("commands", step["commands"])
        env_lines = [f"{k}={_value(v)}" for k, v in sorted(own.items())]
        if hidden:
            env_lines.append(f"+ {len(hidden)} system variables (--system-env lists them)")
        lines += _block("environment", env_lines)
        lines += _block(
            "settings", [f"{k}={_value(v)}" for k, v in sorted(step["settings"].items())]
        )
    return lines


def _fields(values: dict[str, str], indent: str) -> list[str]:
    shown = {k: v for k, v in values.items() if v}
    width = max((len(k) for k in shown), default=0)
    return [f"{indent}{k + ':':<{width + 1}} {v}" for k, v in shown.items()]


def _block(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"      {title}:"] + [f"        {item}" for item in items]


def _value(value: Any) -> str:
    """A variable's value; a secret by its name only."""
    if isinstance(value, dict) and "from_secret" in value:
        return f"<secret {value['from_secret']}>"
    text = str(value)
    return text if "\n" not in text else text.splitlines()[0] + " …"


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _volume(volume: dict[str, Any]) -> str:
    mode = " (ro)" if volume["read_only"] else ""
    return f"{volume['kind']} {volume['source']} -> {volume['target']}{mode}"
