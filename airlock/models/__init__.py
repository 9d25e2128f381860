"""Model backends and the registry (docs/architecture.md).

Importing any of them first loads libgomp with airlock's OpenMP wait policy
(airlock.cpu.load_openmp): llama.cpp's OpenMP runtime reads it once, when it loads.
"""

from airlock.cpu import load_openmp

OPENMP = load_openmp()
