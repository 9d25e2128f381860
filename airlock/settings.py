"""One settings object for the whole server, filled from AIRLOCK_* env vars and then CLI flags."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("airlock", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIRLOCK_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=default_data_dir)
    # None means "SQLite in the data dir"; postgresql+psycopg://... lets several replicas share
    # one database (docs/deployment.md).
    database_url: str | None = None
    # Where uploaded and generated files' bytes live (default: <data dir>/files). Replicas share
    # one directory on a filesystem with atomic rename and fsync (docs/deployment.md).
    files_root: Path | None = Field(None, validation_alias=AliasChoices("files_root",
                                                                        "AIRLOCK_FILES_DIR"))
    # Replicas on PostgreSQL: a claimed run or file stays claimed this long past the claiming
    # replica's last renewal (every third of it); then any replica ends or re-queues it.
    lease_s: float = Field(15.0, gt=0)
    # False: this replica serves the API only and runs no model or ingestion workers.
    workers: bool = True
    api_key: str | None = None
    model: str | None = None
    # A TOML file mapping model names to GGUF files and per-model settings.
    models_config: Path | None = None
    # Unknown model names are a 400 model_not_found instead of running on the default model.
    strict_models: bool = False
    # The scripted model fails a turn that finds no reply queued (instead of echoing the user),
    # so a test that forgot to script a turn fails saying which thread.
    scripted_strict: bool = False
    # SQLite `synchronous` under WAL: NORMAL survives a process crash (the WAL is in the OS
    # cache); FULL also survives power loss at the cost of an fsync per commit.
    sqlite_synchronous: str = "NORMAL"
    max_json_body_bytes: int = 8 * 1024 * 1024
    # OpenAI's own per-file upload limit.
    max_upload_bytes: int = 512 * 1024 * 1024
    poll_after_ms: int = 100
    # A run still waiting (queued, or on tool outputs) this long after creation expires.
    run_expires_after_s: int = Field(600, ge=1)
    log_level: str = "info"
    # file_search: a sentence-transformers model dir or name (None: the bundled all-MiniLM-L6-v2)
    # and how many files are ingested at once.
    embedding_model: str | None = None
    # http://host:port of a Chroma server (`chroma run`) for vectors, instead of the embedded
    # index in the data dir; embeddings are still computed here and passed explicitly.
    chroma_url: str | None = None
    ingest_workers: int = Field(1, ge=1, le=16)
    # How long a run's file_search waits for its stores' files to finish ingesting.
    search_wait_s: float = 60.0
    # file_search parses each file in a child process within these limits; a file over one
    # fails `invalid_file` naming it (README: file_search, "Parsing limits").
    parse_memory_mb: int = Field(1024, ge=256)
    parse_timeout_s: float = Field(120.0, gt=0)
    parse_max_expanded_mb: int = Field(64, ge=1)
    parse_max_compression_ratio: int = Field(100, ge=10)
    parse_max_zip_members: int = Field(10_000, ge=100)
    parse_max_text_mb: int = Field(20, ge=1)
    # code_interpreter: each thread's ipykernel runs jailed by bubblewrap within these limits.
    # Without a working jail the tool refuses, unless the operator allows unsandboxed code.
    allow_unsandboxed_code: bool = False
    # The bubblewrap binary (default: `bwrap` on PATH, else /usr/bin/bwrap).
    bwrap: str | None = None
    code_timeout_s: float = Field(60.0, gt=0)
    code_memory_mb: int = Field(2048, ge=256)
    code_cpu_s: int = Field(300, ge=1)
    code_file_size_mb: int = Field(256, ge=1)
    code_processes: int = Field(64, ge=16)
    # CPU cores one kernel may use at once (a cgroup quota; 0: no quota).
    code_cpus: float = Field(1.0, ge=0)
    # Quota of each thread's /mnt/data: disk bytes, and files plus directories.
    code_disk_mb: int = Field(1024, ge=1)
    code_disk_files: int = Field(10000, ge=10)
    # Files one execution returns as Files; the rest are named in its logs.
    code_output_files: int = Field(20, ge=1, le=1000)
    code_output_chars: int = Field(20000, ge=1000)
    code_pool_size: int = Field(1, ge=0)
    code_max_kernels: int = Field(8, ge=1)
    code_idle_timeout_s: float = Field(3600.0, gt=0)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'airlock.sqlite3'}"

    @property
    def files_dir(self) -> Path:
        return self.files_root or self.data_dir / "files"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def sandbox_dir(self) -> Path:
        return self.data_dir / "sandbox"
