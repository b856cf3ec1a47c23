"""The ``gengap`` command line."""
