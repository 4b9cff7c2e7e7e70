import sys

from mlops_api.cli import main

sys.exit(main())
