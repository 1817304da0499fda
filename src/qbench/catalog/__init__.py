"""`qbench data`: the catalog of datasets, where they come from, and their installs under the data home.

Modules: ``registry`` (the built-in ``sources.toml`` plus a user file), ``home`` (the data home and each
install's status), ``download`` (resumable, checked HTTP), ``unpack`` (safe archives), ``install`` (``get`` and
``add``), ``resolve`` (``--data NAME``), ``suites`` (several datasets, one table). Nothing here is imported by
``import qbench``.
"""
