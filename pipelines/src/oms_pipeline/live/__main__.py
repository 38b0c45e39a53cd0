from oms_pipeline.live.cli import main

raise SystemExit(main())
