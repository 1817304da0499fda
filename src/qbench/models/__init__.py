"""Model adapters and how a model spec (``hf:PATH``, ``openai:NAME``, ``niqe``, ...) becomes one."""
