"""Evaluation: the paper's sampling protocol (runner), metrics (pass@k, cons@k), the table, the CLI."""
