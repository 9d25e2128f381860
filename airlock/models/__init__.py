"""Model backends and the registry (docs/architecture.md).

Importing any of them first sets airlock's OpenMP wait policy (airlock.cpu.configure_openmp),
since llama.cpp's libgomp reads it once, when llama_cpp is first imported.
"""

from airlock.cpu import configure_openmp

configure_openmp()
