"""Fault injection for the live-run tests, loaded by the run's Python through PYTHONPATH.

With ``OMS_KILL_AT_CREATE=<layer>/<table>`` the run's whole process group (Python and its JVM) is
killed with SIGKILL at the first creation of that table, right after its ``_delta_log/`` folder
exists and before version 0 is committed -- the state a kill during Delta's table creation
leaves behind.
"""

import os
import signal

_TARGET = os.environ.get("OMS_KILL_AT_CREATE")

if _TARGET:
    from oms_pipeline.io import tables

    _real_create = tables._create

    def _create(spark, loc, layer, table, *args, **kwargs):  # type: ignore[no-untyped-def]
        if f"{layer}/{table}" == _TARGET:
            os.makedirs(os.path.join(loc.name(layer, table), "_delta_log"), exist_ok=True)
            os.killpg(os.getpgid(0), signal.SIGKILL)
        return _real_create(spark, loc, layer, table, *args, **kwargs)

    tables._create = _create

# With ``OMS_KILL_AFTER_APPEND=<layer>/<table>:<batch>`` the run's process group is killed with
# SIGKILL right after the idempotent append of that micro-batch has committed to Delta and before
# the stream commits the batch in its checkpoint -- the instant where a restart must skip the
# replayed batch (Delta transaction ids) and read no record twice.
_AFTER_APPEND = os.environ.get("OMS_KILL_AFTER_APPEND")

if _AFTER_APPEND:
    from oms_pipeline.io import tables as _tables

    _target, _batch = _AFTER_APPEND.rsplit(":", 1)
    _real_append = _tables.append

    def _append(df, loc, layer, table, *, txn=None):  # type: ignore[no-untyped-def]
        _real_append(df, loc, layer, table, txn=txn)
        if f"{layer}/{table}" == _target and txn is not None and txn[1] == int(_batch):
            os.killpg(os.getpgid(0), signal.SIGKILL)

    _tables.append = _append
