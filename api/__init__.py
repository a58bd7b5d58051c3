"""The HTTP layer and the composition root: app factory, routers, schemas, error handlers,
the dependency-injector container and the ``conduit`` command."""
