"""The ``harmonium`` command line: thin shells over the library."""
