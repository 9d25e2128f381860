from airlock.store.db import Store

__all__ = ["Store"]
