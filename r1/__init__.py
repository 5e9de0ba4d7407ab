"""r1: the DeepSeek-R1 training pipeline as a Snakemake DAG. Logic lives here; rules call it."""

__version__ = "0.1.0"
