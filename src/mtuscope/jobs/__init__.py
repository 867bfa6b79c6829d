"""jobs/: the orchestration floor. One module per job; options in, a typed result out.

Layer: jobs/, above the cores (capture, passive, active, diagnose, calc) and below
the edges (cli, server, agent). A job takes a frozen options dataclass and
returns a frozen result (`JobResult`: kind, inputs, findings, warnings, plus the
job's own typed fields); report/ renders that result as text, JSON or HTML.

This is the only floor above the cores that may open files, start threads,
executors or processes, resolve names, choose a transport or read the clock.
What users type (HOST:PORT, names, platforms) is checked here once
(`jobs.inputs`), so the CLI, the server and the agent get the same errors.

Nothing is re-exported but the result base, so that `import mtuscope.jobs`
stays cheap: the CLI imports a job's module only when that verb runs.
"""

from mtuscope.jobs.result import JobResult

__all__ = ["JobResult"]
