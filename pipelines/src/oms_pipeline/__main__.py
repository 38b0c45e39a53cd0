from oms_pipeline.cli import main

raise SystemExit(main())
