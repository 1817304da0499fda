"""qbench's version, in a module of its own: modules that record it import this, not the package
``__init__`` (which lazily imports the runner, the store and the loaders, so importing it back is a cycle)."""

__version__ = "0.1.0"
