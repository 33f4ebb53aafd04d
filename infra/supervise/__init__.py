"""`make run` under supervisord: every component restarted when it exits.

- `components.py`: what is supervised and how (a table), and the
  supervisord.conf that `scripts/run.sh` writes from it;
- `watcher.py`: supervisord's event listener: counts restarts
  (`convertix_component_restarts_total`), writes each exit into the
  component's log and reports a component that keeps failing;
- `state.py`: the components' states read from supervisord (the gateway's
  `/readyz` names a failing one).
"""
