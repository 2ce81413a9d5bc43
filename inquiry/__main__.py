from inquiry.cli import main

raise SystemExit(main())
