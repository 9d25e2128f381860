from airlock.engine.store.db import Store

__all__ = ["Store"]
