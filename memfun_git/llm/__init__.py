"""The LLM layer: DSPy signatures, the LM built from config, sessions and usage."""

__all__: list[str] = []
