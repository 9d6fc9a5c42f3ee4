"""Process-wide lifecycle state the edge and the probes read: below the server, the
middleware and the routes, so none of them imports another to learn it."""


class DrainState:
    """Set once SIGTERM arrives (app/server/drain.py): /readyz answers 503 and the request-id
    middleware adds Connection: close to every response."""

    draining = False
