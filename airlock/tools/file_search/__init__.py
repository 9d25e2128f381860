"""file_search as a library: parse files, chunk them, embed them, search them.

Nothing here knows about the API or the database; the engine drives it. Heavy imports
(torch, chromadb, parsers) happen on first use, so importing this package is cheap.
"""

from .chunking import Chunked, chunk, split
from .embedder import Embedder, default_model_path, model_created, model_id
from .index import Hit, SearchIndex
from .parsing import SUPPORTED_EXTENSIONS, FileRejected, extract_text
from .sandboxed import BoundedParser, ParseCancelled, ParseLimits

__all__ = [
    "SUPPORTED_EXTENSIONS", "BoundedParser", "Chunked", "Embedder", "FileRejected", "Hit",
    "ParseCancelled", "ParseLimits", "SearchIndex", "chunk", "default_model_path", "extract_text",
    "model_created", "model_id", "split",
]
