"""``mtkd serve``: a bundle over HTTP with adaptive batching, a bounded queue and deadlines.

``api`` (the request format and batch answering) needs no server; ``asgi``, ``batcher`` and ``local`` are the
default one-process engine (uvicorn, Starlette); ``deployment`` and ``server`` put the same ASGI app behind Ray
Serve (``--engine ray``). All of it comes with the ``serve`` extra."""
