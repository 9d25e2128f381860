"""airlock: the OpenAI Assistants API v2, served offline on a local GGUF model."""

__version__ = "0.1.0"
