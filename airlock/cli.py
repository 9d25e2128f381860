"""The `airlock` command: `airlock serve`, `airlock models` and `airlock migrate-thread`."""

from __future__ import annotations

import argparse
import logging
import sys

from airlock.cpu import wait_policy
from airlock.models.registry import ModelNotFound, Registry
from airlock.settings import Settings

KEEP_ALIVE_S = 65


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="airlock", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Assistants API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir", help="where the database and uploaded files live")
    serve.add_argument("--database-url", help="SQLAlchemy URL; default: SQLite in --data-dir. "
                                              "postgresql+psycopg://... lets replicas share it")
    serve.add_argument("--files-dir", dest="files_root", metavar="DIR",
                       help="uploaded files' bytes (default: files/ in --data-dir); replicas "
                            "share one directory (docs/deployment.md)")
    serve.add_argument("--api-key", help="require this bearer token on every request")
    serve.add_argument("--log-level")
    migrate = sub.add_parser(
        "migrate-thread", help="turn an Assistants thread into a Responses conversation on the "
                               "same store (the thread stays); prints the conversation's id")
    migrate.add_argument("thread_id")
    for p_ in (migrate,):
        p_.add_argument("--data-dir", help="where the database and uploaded files live")
        p_.add_argument("--database-url", help="the server's database, when not in --data-dir")
        p_.add_argument("--files-dir", dest="files_root", metavar="DIR",
                        help="the server's files dir, when not in --data-dir")
    models = sub.add_parser("models", help="list the models this server would serve")
    for p_ in (serve, models):
        p_.add_argument("--model", help="the default model: a configured name or a .gguf path")
        p_.add_argument("--models-config", help="TOML file mapping model names to GGUF files")
    serve.add_argument("--strict-models", action="store_true", default=None,
                       help="reject unknown model names (400 model_not_found)")
    serve.add_argument("--scripted-strict", action="store_true", default=None,
                       help="the scripted model fails a run that has no reply queued for its thread "
                            "(instead of echoing the last user message)")
    serve.add_argument("--allow-unsandboxed-code", action="store_true", default=None,
                       help="run code_interpreter kernels without the bubblewrap jail when it "
                            "cannot be made (dangerous: model-written code runs as this user)")
    serve.add_argument("--embedding-model",
                       help="file_search embeddings: a sentence-transformers model dir "
                            "(default: the bundled all-MiniLM-L6-v2)")
    serve.add_argument("--chroma-url", help="keep file_search vectors in this Chroma server "
                                            "(http://host:port, `chroma run`) instead of the data dir")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "command"}
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "migrate-thread":
        thread_id = args.thread_id
        del args.thread_id
        _migrate_thread(_settings(args), thread_id)
        return
    cfg = _settings(args)
    try:
        registry = Registry.load(cfg.model, cfg.models_config)
    except ModelNotFound as exc:
        sys.exit(f"airlock: {exc}")
    if args.command == "models":
        for entry in registry.entries():
            mark = "*" if entry.name == registry.default else " "
            where = entry.remote.base_url if entry.remote else entry.path or entry.kind
            print(f"{mark} {entry.name}\t{where}")
        from airlock.tools.file_search import model_id

        if model_id(cfg.embedding_model) not in {e.name for e in registry.entries()}:
            print(f"  {model_id(cfg.embedding_model)}\t"
                  f"{cfg.embedding_model or 'bundled'} (embeddings)")
        return
    _serve(cfg, registry)


def _migrate_thread(cfg: Settings, thread_id: str) -> None:
    """Works on the store directly, so a server need not run (one may: the store is shared)."""
    from airlock.errors import AirlockError
    from airlock.service.thread_migration import migrate
    from airlock.store import Store

    store = Store(cfg.resolved_database_url(), cfg.files_dir,
                  sqlite_synchronous=cfg.sqlite_synchronous)
    try:
        store.migrate()
        conversation = migrate(store, cfg.files_dir, thread_id)
    except AirlockError as exc:
        sys.exit(f"airlock: {exc.message}")
    finally:
        store.close()
    print(conversation["id"])


def _serve(cfg: Settings, registry: Registry) -> None:
    import uvicorn

    from airlock.server.app import create_app
    from airlock.server.http_protocol import EnvelopeH11Protocol
    from airlock.service import Services

    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("airlock.cpu").info(wait_policy())
    app = create_app(Services(cfg, registry))
    base = f"http://{cfg.host}:{cfg.port}/v1"
    print(f"airlock serving the Assistants API at {base} (data: {cfg.data_dir})", flush=True)
    # A configured key is a secret: the banner lands in CI logs, so it names where the key is.
    key = '"<the --api-key value>"' if cfg.api_key else '"x"'
    print(f'  client = OpenAI(base_url="{base}", api_key={key})', flush=True)
    root = f"http://{cfg.host}:{cfg.port}"
    print(f"  Playground: {root}/playground   API docs: {root}/docs", flush=True)
    # airlock.server.access_log writes the access log (paths only); uvicorn's would repeat it.
    # Idle connections are kept longer than clients keep them (httpx, under the openai SDKs,
    # drops its idle ones after 5 s, uvicorn's default too): with equal limits a client could
    # send a request on a connection the server was closing and read a reset (a cluster test
    # polling 32 runs at once saw one).
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=False,
                http=EnvelopeH11Protocol, timeout_keep_alive=KEEP_ALIVE_S)
