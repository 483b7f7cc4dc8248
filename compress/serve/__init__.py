"""``mtkd serve``: a bundle behind an HTTP server (Ray Serve) with dynamic batching and a bounded queue.

``api`` (the request format and batch answering) needs no server; ``deployment`` and ``server`` need the
``serve`` extra (Ray Serve)."""
