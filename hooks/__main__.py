from gitvault.hooks import main

raise SystemExit(main())
