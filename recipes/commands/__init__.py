"""The ``mtkd`` commands beyond ``run``: export, predict and loadtest, evaluate, baseline, ablations and
the GPU bench check. Each reads a recipe or a finished run and calls the library."""
