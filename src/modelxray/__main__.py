import sys

from modelxray.cli import main

sys.exit(main())
