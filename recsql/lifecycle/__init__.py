"""The tenant lifecycle: what outlives a build (:mod:`~recsql.lifecycle.state`)."""
