"""The shared grammars, owned once at the base of the stack: how users write references to
datasets and models, durations, and declarative files read with their locations. Every
other package asks this one instead of parsing for itself."""

__all__: list[str] = []
