"""The pipeline's stages, one module each: every stage reads its settings from the recipe, calls one
library verb and writes the result under ``runs/<recipe>/<stage>/``. Importing a module registers its
stage (``recipes.pipeline.register_stage``); the pipeline runs them in ``PIPELINE`` order."""


def register_stages() -> None:
    """Import the stage modules; importing registers each stage in pipeline order."""
    from . import bench, compile, distill, general, pretrain, prune, quantize, teacher  # noqa: F401
