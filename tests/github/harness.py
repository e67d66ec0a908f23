"""Run a workflow job's `run:` steps for real, the way a GitHub runner would, locally.

What is simulated: the runner's environment (GITHUB_ACTIONS, the event JSON, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY per step, GITHUB_ENV is not used by our workflows), `${{ }}` expressions
(property lookups and `||` only: github.*, secrets.*, steps.*, and matrix.*, needs.* and vars.* as
the caller passes them), step and job `if:` conditions (always(), success(), failure(), ==, !=, &&), and
`gh`, replaced by a recorder script that keeps one comment per pull request. What is skipped:
`uses:` steps (checkout, setup-python, upload-artifact) and the `Install` step: the test's own
virtualenv already holds the package, and installing a temp clone into it would corrupt it.
The caller chains jobs (needs) and expands matrices itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

GH_RECORDER = '''#!{python}
"""Stand-in for the GitHub CLI: records every call, keeps one comment store per repository.
Comments are kept with their author; a listing is answered as GitHub's API would (a JSON array
of comment objects) and filtered with the real `jq` when the call passes `--jq`."""
import json, os, subprocess, sys
from pathlib import Path
state = Path(os.environ["GH_RECORDER_DIR"])
log = state / "calls.jsonl"
comments_file = state / "comments.json"
comments = json.loads(comments_file.read_text()) if comments_file.exists() else {{}}
prs_file = state / "prs.json"
prs = json.loads(prs_file.read_text()) if prs_file.exists() else []
args = sys.argv[1:]

def option(name):
    return args[args.index(name) + 1] if name in args else None
BOT = "github-actions[bot]"

def body_from(args):
    for i, a in enumerate(args):
        if a == "--body-file":
            return Path(args[i + 1]).read_text()
        if a in ("-F", "--field", "-f") and args[i + 1].startswith("body=@"):
            return Path(args[i + 1][len("body=@"):]).read_text()
    return None

with log.open("a") as fh:
    fh.write(json.dumps({{"args": args, "body": body_from(args)}}) + "\\n")
if args[:2] == ["pr", "list"]:
    head, state_wanted = option("--head"), option("--state") or "open"
    found = [p for p in prs if (head is None or p["headRefName"] == head) and p["state"].lower() == state_wanted]
    print(json.dumps([{{"number": p["number"], "url": p["url"], "title": p["title"]}} for p in found]))
elif args[:2] == ["pr", "create"]:
    number = len(prs) + 1
    url = f"https://github.com/example/models/pull/{{number}}"
    prs.append({{"number": number, "url": url, "title": option("--title"), "body": body_from(args),
                "headRefName": option("--head"), "baseRefName": option("--base"), "state": "OPEN"}})
    print(url)
elif args[:2] == ["pr", "edit"]:
    pr = next(p for p in prs if str(p["number"]) == args[2])
    pr["body"] = body_from(args) if body_from(args) is not None else pr["body"]
    pr["title"] = option("--title") or pr["title"]
    print(pr["url"])
elif args[:2] == ["pr", "comment"]:
    new_id = str(len(comments) + 1)
    comments[new_id] = {{"body": body_from(args), "user": BOT}}
    print(f"https://github.com/example/comment/{{new_id}}")
elif args[0] == "api" and "--method" in args and args[args.index("--method") + 1] == "PATCH":
    comment_id = args[args.index("--method") + 2].rsplit("/", 1)[-1]
    comments[comment_id]["body"] = body_from(args)
elif args[0] == "api" and args[1].endswith("/pages"):
    # The repository's Pages site: what the test wrote in pages.json, else 404 as GitHub answers.
    site = state / "pages.json"
    if not site.exists():
        sys.stderr.write('gh: Not Found (HTTP 404)\\n')
        sys.exit(1)
    text = site.read_text()
    if "--jq" in args:
        text = subprocess.run(["jq", "-r", args[args.index("--jq") + 1]], input=text, capture_output=True,
                              text=True, check=True).stdout
    sys.stdout.write(text)
elif args[0] == "api":
    listing = [
        {{"id": int(cid), "body": c["body"], "user": {{"login": c["user"]}}}} for cid, c in comments.items()
    ]
    text = json.dumps(listing)
    if "--jq" in args:
        text = subprocess.run(["jq", "-r", args[args.index("--jq") + 1]], input=text, capture_output=True,
                              text=True, check=True).stdout
    sys.stdout.write(text)
comments_file.write_text(json.dumps(comments))
prs_file.write_text(json.dumps(prs))
'''


@dataclass
class StepResult:
    name: str
    ran: bool
    outcome: str  # success | failure | skipped
    stdout: str = ""  # the step's log: stdout and stderr as they were written
    stderr: str = ""  # (empty: merged into the log)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def commands(self) -> list[tuple[str, str, str]]:
        """The workflow commands the runner would act on: (command, properties, data)."""
        return workflow_commands(self.stdout)


COMMAND = re.compile(r"^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$")


def workflow_commands(log: str) -> list[tuple[str, str, str]]:
    """What the runner reads as commands, as it reads them: any line that starts with `::`
    (leading whitespace ignored), except between `::stop-commands::TOKEN` and `::TOKEN::`
    (the reconciler does not stop commands; a workflow's own script may)."""
    found: list[tuple[str, str, str]] = []
    stopped: str | None = None
    for raw in log.splitlines():
        line = raw.strip()
        if stopped is not None:
            if line == f"::{stopped}::":
                stopped = None
            continue
        match = COMMAND.match(line)
        if match is None:
            continue
        name, props, data = match.group(1), match.group(2) or "", match.group(3)
        if name == "stop-commands":
            stopped = data
            continue
        found.append((name, props, data))
    return found


@dataclass
class JobResult:
    steps: list[StepResult]
    summary: str
    gh_calls: list[dict[str, Any]]
    comments: dict[str, str]
    ran: bool = True  # False: the job's own `if:` skipped it

    @property
    def success(self) -> bool:
        return all(s.outcome != "failure" or s.name in self.tolerated for s in self.steps)

    tolerated: set[str] = field(default_factory=set)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


def load(workflow: str | Path) -> dict[str, Any]:
    """A workflow of this repository by file name, or any workflow file by its path."""
    data = YAML(typ="safe").load((WORKFLOWS / workflow).read_text())
    assert isinstance(data, dict)
    return data


def _lookup(expr: str, context: dict[str, Any]) -> Any:
    node: Any = context
    for part in expr.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _value(expr: str, context: dict[str, Any]) -> Any:
    expr = expr.strip()
    if "||" in expr:  # GitHub's `a || b`: the first value that is not empty
        for part in expr.split("||"):
            value = _value(part, context)
            if value:
                return value
        return ""
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1]
    return _lookup(expr, context)


def substitute(text: str, context: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        value = _value(match.group(1), context)
        return "" if value is None else str(value)

    return EXPR.sub(one, text)


def condition(expr: str | None, context: dict[str, Any], failed: bool) -> bool:
    if expr is None:
        return not failed
    expr = EXPR.sub(lambda m: m.group(1), str(expr)).strip()
    uses_status = any(f in expr for f in ("always()", "failure()", "success()", "cancelled()"))
    result = all(_term(term.strip(), context, failed) for term in expr.split("&&"))
    return result if uses_status else (result and not failed)


def _term(term: str, context: dict[str, Any], failed: bool) -> bool:
    if term == "always()":
        return True
    if term == "failure()":
        return failed
    if term == "success()":
        return not failed
    for op in ("!=", "=="):
        if op in term:
            left, right = (_value(side, context) for side in term.split(op, 1))
            left = "" if left is None else str(left)
            right = "" if right is None else str(right)
            return (left == right) if op == "==" else (left != right)
    return bool(_value(term, context))


def parse_outputs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delimiter = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def install_gh(bin_dir: Path, state: Path) -> dict[str, str]:
    """Put the recorder on a PATH of its own; returns the environment that uses it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(GH_RECORDER.format(python=sys.executable))
    gh.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "GH_RECORDER_DIR": str(state)}


def run_job(
    workflow: str | Path,
    job: str,
    *,
    workdir: Path,
    event_name: str,
    event: dict[str, Any],
    secrets: dict[str, str],
    scratch: Path,
    sha: str,
    gh_state: Path,
    matrix: dict[str, str] | None = None,
    needs: dict[str, Any] | None = None,
    action_refs: frozenset[str] = frozenset(),
    variables: dict[str, str] | None = None,
) -> JobResult:
    """`gh_state` is the simulated GitHub side (comments); share it between runs of one repo.
    `matrix` is one entry of the job's expanded matrix; `needs` the jobs it depends on, as
    {job: {"result": ..., "outputs": {...}}}. `action_refs`: `uses:` references (OWNER/REPO@REF)
    that stand for this repository's action, as in a user's repository made by `reconciler init`."""
    spec = load(workflow)
    job_spec = spec["jobs"][job]
    scratch.mkdir(parents=True, exist_ok=True)
    bin_dir = scratch / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(GH_RECORDER.format(python=sys.executable))
    gh.chmod(0o755)
    gh_state.mkdir(parents=True, exist_ok=True)
    calls_file = gh_state / "calls.jsonl"
    calls_file.unlink(missing_ok=True)  # calls are per run; comments persist
    event_path = scratch / "event.json"
    event_path.write_text(json.dumps(event))
    github = {
        "event": event,
        "event_name": event_name,
        "repository": "example/models",
        "token": "test-token",
        "sha": sha,
        "run_id": "4242",
        "server_url": "https://github.com",
    }
    runner_temp = scratch / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    context: dict[str, Any] = {
        "github": github,
        "secrets": secrets,
        "steps": {},
        "runner": {"temp": str(runner_temp)},
        "matrix": matrix or {},
        "needs": needs or {},
        "vars": variables or {},
    }
    upstream_failed = any(n.get("result") != "success" for n in (needs or {}).values())
    if not condition(job_spec.get("if"), context, upstream_failed):
        return JobResult([], "", [], {}, ran=False)
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLFLOW_")) and k != "RECONCILER_DEBUG"
    }
    base_env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_RUN_ID": github["run_id"],
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_SHA": sha,
            "GITHUB_WORKSPACE": str(workdir),
            "RUNNER_TEMP": str(runner_temp),
            "GH_RECORDER_DIR": str(gh_state),
        }
    )
    for scope in (spec.get("env") or {}, job_spec.get("env") or {}):
        base_env.update({k: substitute(str(v), context) for k, v in scope.items()})
    results: list[StepResult] = []
    summary_parts: list[str] = []
    failed = False
    tolerated: set[str] = set()
    for index, step in enumerate(job_spec["steps"]):
        name = substitute(str(step.get("name") or step.get("uses") or f"step {index}"), context)
        uses = str(step.get("uses", ""))
        local = uses.startswith("./") or uses in action_refs
        if ("uses" in step and not local) or name == "Install":
            results.append(StepResult(name, False, "skipped"))
            continue
        if not condition(step.get("if"), context, failed):
            results.append(StepResult(name, False, "skipped"))
            if step.get("id"):
                context["steps"][step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            continue
        env = dict(base_env)
        env.update({k: substitute(str(v), context) for k, v in (step.get("env") or {}).items()})
        if local:
            log, outputs, ok = _run_action(step, context, env, workdir, scratch / f"action-{index}", summary_parts)
        else:
            proc = _run_script(step["run"], context, env, workdir, scratch / f"step-{index}", summary_parts)
            log, outputs, ok = (
                proc.stdout,
                parse_outputs((scratch / f"step-{index}" / "output").read_text()),
                (proc.returncode == 0),
            )
        outcome = "success" if ok else "failure"
        results.append(StepResult(name, True, outcome, log, "", outputs))
        if step.get("id"):
            context["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
        if outcome == "failure":
            if step.get("continue-on-error"):
                tolerated.add(name)
            else:
                failed = True
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()] if calls_file.exists() else []
    comments_file = gh_state / "comments.json"
    stored = json.loads(comments_file.read_text()) if comments_file.exists() else {}
    comments = {cid: c["body"] for cid, c in stored.items()}
    result = JobResult(results, "".join(summary_parts), calls, comments)
    result.tolerated = tolerated
    return result


ACTION = WORKFLOWS.parents[1] / "action.yml"


def _run_script(
    script: str, context: dict[str, Any], env: dict[str, str], workdir: Path, scratch: Path, summary: list[str]
) -> subprocess.CompletedProcess[str]:
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "output").write_text("")
    (scratch / "summary").write_text("")
    env = {**env, "GITHUB_OUTPUT": str(scratch / "output"), "GITHUB_STEP_SUMMARY": str(scratch / "summary")}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", substitute(textwrap.dedent(script), context)],
        cwd=workdir,
        env=env,
        # One stream, as the runner's log is: whether a line is read as a workflow
        # command depends on what was written before it on either stream.
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    summary.append((scratch / "summary").read_text())
    return proc


def _run_action(
    step: dict[str, Any],
    context: dict[str, Any],
    env: dict[str, str],
    workdir: Path,
    scratch: Path,
    summary: list[str],
) -> tuple[str, dict[str, str], bool]:
    """A local composite action (`uses: ./`, `./.reconciler-tool`, or a reference standing for
    it): this repository's
    action.yml, its `run` steps run in turn as the runner would (inputs from `with:` over the
    defaults, outputs mapped from its steps); `uses:` steps inside it and its Install step are
    skipped like the workflow's own."""
    action = YAML(typ="safe").load(ACTION.read_text())
    given = {k: substitute(str(v), context) for k, v in (step.get("with") or {}).items()}
    unknown = set(given) - set(action["inputs"])
    assert not unknown, f"unknown inputs to the action: {sorted(unknown)}"
    inputs = {k: given.get(k, str(spec.get("default", ""))) for k, spec in action["inputs"].items()}
    missing = [k for k, spec in action["inputs"].items() if spec.get("required") and not inputs[k]]
    assert not missing, f"required inputs missing: {missing}"
    inner: dict[str, Any] = {**context, "inputs": inputs, "steps": {}}
    inner["github"] = {**context["github"], "action_path": str(ACTION.parent)}
    log = ""
    for index, sub in enumerate(action["runs"]["steps"]):
        if "uses" in sub or sub.get("name") == "Install":
            continue
        sub_env = {**env, **{k: substitute(str(v), inner) for k, v in (sub.get("env") or {}).items()}}
        proc = _run_script(sub["run"], inner, sub_env, workdir, scratch / str(index), summary)
        log += proc.stdout
        outputs = parse_outputs((scratch / str(index) / "output").read_text())
        if sub.get("id"):
            inner["steps"][sub["id"]] = {"outputs": outputs}
        if proc.returncode != 0:
            break
    else:
        return log, _action_outputs(action, inner), True
    return log, _action_outputs(action, inner), False


def _action_outputs(action: dict[str, Any], inner: dict[str, Any]) -> dict[str, str]:
    """What the action's steps set, through its `outputs:` mapping (unset ones are absent)."""
    mapped = {k: substitute(str(spec["value"]), inner) for k, spec in action.get("outputs", {}).items()}
    return {k: v for k, v in mapped.items() if v}
