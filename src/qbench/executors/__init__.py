"""Where batches run: in this process (the default, see ``runner.local_batches``) or on a Ray cluster."""
