"""Data loaders: official json/jsonl, MOS json and CSV, HF parquet, and the built-in synthetic sets."""
