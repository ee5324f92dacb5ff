"""The backend family: Protocols (protocols.py) and one module per storage tier."""

__all__: list[str] = []
