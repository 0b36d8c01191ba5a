"""The runtime: the CLI, Ray actors and the Ray job that runs the ``pipeline`` library's stages."""
