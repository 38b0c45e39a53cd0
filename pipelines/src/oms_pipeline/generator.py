"""``oms-generate``: the event factory in batch mode (``sources.factory.generate``) from the
command line; the public names stay importable from here."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from oms_pipeline.sources.factory import GeneratorConfig, Manifest, generate

__all__ = ["GeneratorConfig", "Manifest", "generate", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="oms-generate", description=generate.__doc__)
    p.add_argument("--landing", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--orders", type=int, default=400)
    p.add_argument("--malformed-rate", type=float, default=0.01)
    p.add_argument("--manifest", default=None)
    a = p.parse_args(argv)
    man = generate(
        a.landing, GeneratorConfig(seed=a.seed, orders=a.orders, malformed_rate=a.malformed_rate)
    )
    if a.manifest:
        man.write(a.manifest)
    print(json.dumps(man.summary(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
