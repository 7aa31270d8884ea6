from registry_node.cli import main

raise SystemExit(main())
