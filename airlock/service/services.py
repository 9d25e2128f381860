"""Every resource service of one server, built on one store, registry and engine."""

from __future__ import annotations

from airlock.engine.background import Background
from airlock.models.registry import Registry
from airlock.service.assistant_files import AssistantFiles
from airlock.service.assistants import Assistants
from airlock.service.background_responses import BackgroundResponses
from airlock.service.chat import Chat
from airlock.service.containers import Containers
from airlock.service.context import Context
from airlock.service.conversations import Conversations
from airlock.service.embeddings import Embeddings
from airlock.service.file_batches import FileBatches
from airlock.service.files import Files
from airlock.service.messages import Messages
from airlock.service.model_names import Models
from airlock.service.responses import Responses
from airlock.service.runs import Runs
from airlock.service.scripted_replies import ScriptedReplies
from airlock.service.thread_migration import ThreadMigration
from airlock.service.threads import Threads
from airlock.service.vector_store_files import VectorStoreFiles
from airlock.service.vector_stores import VectorStores
from airlock.settings import Settings
from airlock.store import Store


class Services:
    def __init__(self, cfg: Settings, registry: Registry):
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(cfg.resolved_database_url(), cfg.files_dir,
                      sqlite_synchronous=cfg.sqlite_synchronous)
        store.migrate()
        self.cfg = cfg
        self.ctx = Context(store, cfg, registry, Background(store, registry, cfg))
        self.assistants = Assistants(self.ctx)
        self.assistant_files = AssistantFiles(self.ctx)
        self.threads = Threads(self.ctx)
        self.messages = Messages(self.ctx)
        self.runs = Runs(self.ctx)
        self.files = Files(self.ctx)
        self.embeddings = Embeddings(self.ctx)
        self.models = Models(self.ctx, self.embeddings)
        self.chat = Chat(self.ctx)
        self.conversations = Conversations(self.ctx)
        self.containers = Containers(self.ctx)
        self.thread_migration = ThreadMigration(self.ctx)
        self.responses = Responses(self.ctx)
        self.background_responses = BackgroundResponses(self.ctx, self.responses)
        self.vector_stores = VectorStores(self.ctx)
        self.vector_store_files = VectorStoreFiles(self.ctx)
        self.file_batches = FileBatches(self.ctx)
        self.scripted_replies = ScriptedReplies(self.ctx)
        registry_default = registry.get(registry.default)
        if registry_default.kind != "scripted":
            registry.backend(registry.default)  # loaded before /health says ready

    def start(self) -> None:
        self.ctx.background.start()

    def close(self) -> None:
        self.ctx.background.stop()
        self.ctx.registry.close()
        self.ctx.store.close()
