"""The rows services return (store.records), for the HTTP layer, which may not import the store."""

from airlock.store.records import AssistantRow

__all__ = ["AssistantRow"]
