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
