"""Exit statuses of `convertix` (README, "From the command line"): one table."""
OK = 0            # every file succeeded (or the command did what it says)
FAILED = 1        # every file of the job(s) failed, or the job was cancelled
USAGE = 2         # bad arguments (typer/click's own status)
PARTIAL = 3       # some files succeeded, some failed
AUTH = 4          # not signed in, wrong password, token expired or revoked
CONNECTION = 5    # the server cannot be reached, or answers 503 (a backend is down)
REFUSED = 6       # the server refused the request: bad options, unknown job, file too large ...

# a job's final status -> the exit status
BY_JOB_STATUS = {"succeeded": OK, "partial": PARTIAL, "failed": FAILED, "cancelled": FAILED}


def for_jobs(statuses):
    """One exit status for several jobs: 0 only when every one succeeded."""
    statuses = set(statuses)
    if statuses <= {"succeeded"}:
        return OK
    if statuses <= {"failed", "cancelled"}:
        return FAILED
    return PARTIAL
