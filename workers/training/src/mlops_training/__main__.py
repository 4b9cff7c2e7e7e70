"""`python -m mlops_training [train] [--root DIR]`: the training container's entrypoint."""

from mlops_training.entrypoint import main

raise SystemExit(main())
