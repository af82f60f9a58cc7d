"""Built-in steps of the pipeline, each an ordinary plugin registered before any other."""
