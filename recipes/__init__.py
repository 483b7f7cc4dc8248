"""Recipes: the YAML schema, the stage pipeline and the ``mtkd`` command line."""
