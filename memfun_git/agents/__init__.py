"""The multi-agent workflow tier: specialists as data, the decomposer's DAG, its scheduler."""

__all__: list[str] = []
