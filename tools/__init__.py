"""Developer tools run from a source checkout, not installed with mtkd: the reliability matrix
(``python -m tools.matrix``) and the GPU self-check that ``.ci/gpu-check`` runs."""
