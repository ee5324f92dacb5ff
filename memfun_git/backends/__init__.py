"""The backend family: Protocols (protocols.py) and one module per storage tier."""
