"""Small tasks travel in chunks: which of the tasks being published share a message.

Every message on the conversion queue costs a publish, a delivery and an
ack, and a converter round trip that a 10 ms thumbnail cannot hide. So when
the refill publishes several tasks of one job, the small ones go together:
one message of up to `CONVERTER.chunk_max_tasks` tasks and about
`CONVERTER.chunk_max_s` estimated engine-seconds. A task estimated above
that goes alone, as every task did before. Each task in a chunk keeps its
own record, outcome, attempts and dead letter (docs/DESIGN.md "Keeping
converters fed").

Pure: the estimates come from the caller (costs.py `estimate_s`, the
scaler's cost model fed by the successes this process applied; its prior
per output format, i.e. by input bytes, until it has learned).
"""


def chunks(tasks, max_tasks, max_s):
    """`tasks`: [(item, job id, estimated seconds)] in publishing order.
    The items grouped into messages, in the same order: consecutive tasks of
    one job, at most `max_tasks` of them and at most `max_s` seconds
    together; a task above `max_s` alone."""
    out, current, job, seconds = [], [], None, 0.0
    for item, job_id, estimate in tasks:
        fits = (current and job_id == job and len(current) < max_tasks
                and seconds + estimate <= max_s)
        if not fits:
            if current:
                out.append(current)
            current, job, seconds = [], job_id, 0.0
        current.append(item)
        seconds += estimate
    if current:
        out.append(current)
    return out
