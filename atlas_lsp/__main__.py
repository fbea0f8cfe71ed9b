from atlas_lsp.cli import main

raise SystemExit(main())
