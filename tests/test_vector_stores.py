"""Vector stores, their files and batches through the strict client (contract §2, §5)."""

from __future__ import annotations

import pytest

from fs_helpers import (
    PENGUINS,
    VOLCANO,
    ZORBLAX,
    docx_bytes,
    pptx_bytes,
    ready_store,
    search_files,
    upload,
)
from helpers import assert_not_found, assert_param, assert_recent, bad_request

DAY = 86_400


@pytest.fixture(scope="module")
def docs_store(fs_client):
    store, files = ready_store(fs_client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS,
                                           "volcano.html": VOLCANO})
    return store, files


def test_create_retrieve_update_list_delete(fs_client):
    store = fs_client.vector_stores.create(
        name="handbook", metadata={"team": "ops"},
        expires_after={"anchor": "last_active_at", "days": 3})
    assert store.id.startswith("vs_") and store.object == "vector_store"
    assert store.name == "handbook" and store.metadata == {"team": "ops"}
    assert store.status == "completed" and store.usage_bytes == 0
    assert store.file_counts.model_dump() == {"in_progress": 0, "completed": 0, "failed": 0,
                                              "cancelled": 0, "total": 0}
    assert_recent(store.created_at)
    assert store.expires_at == store.last_active_at + 3 * DAY
    assert fs_client.vector_stores.retrieve(store.id) == store

    unnamed = fs_client.vector_stores.create()
    assert unnamed.name == "" and unnamed.expires_at is None

    updated = fs_client.vector_stores.update(store.id, name="renamed", metadata={"v": "2"},
                                             expires_after={"anchor": "last_active_at", "days": 1})
    assert (updated.name, updated.metadata) == ("renamed", {"v": "2"})
    assert updated.expires_at == updated.last_active_at + DAY

    listed = fs_client.vector_stores.list(limit=2)
    assert [s.id for s in listed.data] == [unnamed.id, store.id] and listed.has_more in (True, False)
    gone = fs_client.vector_stores.delete(store.id)
    assert gone.deleted and gone.object == "vector_store.deleted"
    assert_not_found("vector store", store.id, fs_client.vector_stores.retrieve, store.id)


def test_bad_requests_name_their_parameter(fs_client):
    body = bad_request(fs_client.vector_stores.create, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}})
    assert_param(body, "chunking_strategy.static.chunk_overlap_tokens")
    body = bad_request(fs_client.vector_stores.create, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}})
    assert_param(body, "chunking_strategy.static.max_chunk_size_tokens")
    body = bad_request(fs_client.vector_stores.create, file_ids=["file-nope"])
    assert_param(body, "file_ids[0]")
    body = bad_request(fs_client.vector_stores.create,
                       expires_after={"anchor": "created_at", "days": 1})
    assert_param(body, "expires_after.anchor")
    assert_not_found("vector store", "vs_nope", fs_client.vector_stores.files.list, "vs_nope")
    # Nothing half-written: the rejected creates left no store behind.
    assert all(s.name != "x" for s in fs_client.vector_stores.list().data)


def test_file_create_and_poll_reports_chunking_and_uses_the_file_id(fs_client):
    f = upload(fs_client, "zorblax.txt", ZORBLAX)
    store = fs_client.vector_stores.create()
    vsf = fs_client.vector_stores.files.create_and_poll(
        file_id=f.id, vector_store_id=store.id, attributes={"year": 1987, "kind": "history"})
    assert vsf.id == f.id and vsf.object == "vector_store.file"
    assert vsf.status == "completed" and vsf.last_error is None and vsf.usage_bytes == len(ZORBLAX)
    assert vsf.chunking_strategy.model_dump() == {
        "type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
    assert vsf.attributes == {"year": 1987, "kind": "history"}
    custom = fs_client.vector_stores.files.create_and_poll(
        file_id=upload(fs_client, "p.md", PENGUINS).id, vector_store_id=store.id,
        chunking_strategy={"type": "static",
                           "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50}})
    assert custom.chunking_strategy.static.max_chunk_size_tokens == 100
    store = fs_client.vector_stores.retrieve(store.id)
    assert store.file_counts.completed == 2 and store.file_counts.total == 2
    assert store.usage_bytes == len(ZORBLAX) + len(PENGUINS)


def test_attributes_update_list_filter_content_and_delete(fs_client, docs_store):
    store, files = docs_store
    zid = files["zorblax.txt"].id
    updated = fs_client.vector_stores.files.update(file_id=zid, vector_store_id=store.id,
                                                   attributes={"topic": "engines"})
    assert updated.attributes == {"topic": "engines"}
    done = fs_client.vector_stores.files.list(vector_store_id=store.id, filter="completed")
    assert {f.id for f in done.data} == {f.id for f in files.values()}
    assert fs_client.vector_stores.files.list(vector_store_id=store.id, filter="failed").data == []
    content = fs_client.vector_stores.files.content(file_id=files["volcano.html"].id,
                                                    vector_store_id=store.id)
    text = "".join(c.text for c in content.data)
    assert "Mount Orrin erupted in 1622" in text and "do not index" not in text


def test_search_ranks_filters_and_thresholds(fs_client, docs_store):
    store, files = docs_store
    page = fs_client.vector_stores.search(vector_store_id=store.id,
                                          query="Who came up with the kelp-powered engine?")
    assert page.data[0].filename == "zorblax.txt"
    assert "Mira Tell" in page.data[0].content[0].text
    scores = [r.score for r in page.data]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    assert search_files(fs_client, store.id, "XQ-7731 valve")[0] == "zorblax.txt"
    assert search_files(fs_client, store.id, "penguins krill", max_num_results=1) == ["penguins.md"]
    # Attribute filters (zorblax.txt got topic=engines in the test above, or none yet).
    fs_client.vector_stores.files.update(file_id=files["zorblax.txt"].id, vector_store_id=store.id,
                                         attributes={"topic": "engines", "year": 1987})
    only = search_files(fs_client, store.id, "history", filters={"type": "eq", "key": "topic",
                                                                  "value": "engines"})
    assert only == ["zorblax.txt"]
    assert search_files(fs_client, store.id, "history", filters={
        "type": "and", "filters": [{"type": "gte", "key": "year", "value": 1900},
                                   {"type": "ne", "key": "topic", "value": "engines"}]}) == []
    none_match = search_files(fs_client, store.id, "penguins", filters={
        "type": "nin", "key": "topic", "value": ["engines"]})
    assert "zorblax.txt" not in none_match and "penguins.md" in none_match
    high = fs_client.vector_stores.search(vector_store_id=store.id, query="penguins krill",
                                          ranking_options={"score_threshold": 0.99}).data
    assert all(r.score >= 0.99 for r in high)
    both = search_files(fs_client, store.id, ["penguins in Antarctica", "volcano eruption"])
    assert set(both[:2]) == {"penguins.md", "volcano.html"}
    rewritten = fs_client.vector_stores.search(vector_store_id=store.id, rewrite_query=True,
                                               query="What is the part number of the valve?")
    assert rewritten.search_query == "part number valve"
    body = bad_request(fs_client.vector_stores.search, vector_store_id=store.id, query="x",
                       max_num_results=0)
    assert_param(body, "max_num_results")
    body = bad_request(fs_client.vector_stores.search, vector_store_id=store.id, query="x",
                       filters={"type": "between", "key": "a", "value": 1})
    assert body["param"].startswith("filters")


def _pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_upload_and_poll_mixed_batch_with_broken_files(fs_client):
    store = fs_client.vector_stores.create(name="mixed")
    docs = {
        "report.pdf": _pdf("The lighthouse keeper logged 412 storms in 1911."),
        "memo.docx": docx_bytes("The canteen serves barley soup on Thursdays."),
        "deck.pptx": pptx_bytes("Revenue from glass marbles rose nine percent."),
        "data.json": b'{"city": "Quillport", "population": 5120}',
        "tool.py": b"def gravel_ratio():\n    return 0.37  # sieve constant\n",
        "page.html": VOLCANO,
        "broken.pdf": b"%PDF-1.4 this is not really a pdf",
        "photo.bmp": b"BM\x00\x00binary",
    }
    batch = fs_client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[(name, data) for name, data in docs.items()])
    assert batch.object == "vector_store.files_batch" and batch.id.startswith("vsfb_")
    assert batch.status == "completed"
    assert batch.file_counts.model_dump() == {"in_progress": 0, "completed": 6, "failed": 2,
                                              "cancelled": 0, "total": 8}
    failed = fs_client.vector_stores.file_batches.list_files(
        batch_id=batch.id, vector_store_id=store.id, filter="failed").data
    errors = sorted(f.last_error.code for f in failed)
    assert errors == ["invalid_file", "unsupported_file"]
    assert all(f.last_error.message for f in failed)
    for query, name in [("how many storms did the lighthouse keeper log", "report.pdf"),
                        ("what soup does the canteen serve", "memo.docx"),
                        ("marble revenue growth", "deck.pptx"),
                        ("population of Quillport", "data.json"),
                        ("sieve constant for gravel", "tool.py")]:
        assert search_files(fs_client, store.id, query)[0] == name, query
    assert fs_client.vector_stores.retrieve(store.id).file_counts.failed == 2


def test_cancel_batch_stops_waiting_files(fs_client):
    store = fs_client.vector_stores.create()
    # A large first file keeps the ingestion worker busy while the cancel arrives.
    big = upload(fs_client, "big.txt", b"Filler sentence about nothing in particular. " * 20000)
    small = [upload(fs_client, f"s{i}.txt", f"Small note number {i}.".encode()) for i in range(5)]
    batch = fs_client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=[big.id, *[f.id for f in small]])
    assert batch.status == "in_progress" and batch.file_counts.total == 6
    cancelled = fs_client.vector_stores.file_batches.cancel(batch_id=batch.id,
                                                            vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    counts = cancelled.file_counts
    assert counts.in_progress == 0 and counts.cancelled >= 5 and counts.total == 6
    body = bad_request(fs_client.vector_stores.file_batches.cancel, batch_id=batch.id,
                       vector_store_id=store.id)
    assert "cancelled" in body["message"]
    assert search_files(fs_client, store.id, "Small note number") == []


def test_deleting_store_file_or_file_removes_chunks(fs_client):
    store, files = ready_store(fs_client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS})
    assert "zorblax.txt" in search_files(fs_client, store.id, "Zorblax engine")
    gone = fs_client.vector_stores.files.delete(file_id=files["zorblax.txt"].id,
                                                vector_store_id=store.id)
    assert gone.deleted and gone.object == "vector_store.file.deleted"
    assert "zorblax.txt" not in search_files(fs_client, store.id, "Zorblax engine")
    assert_not_found("vector store file", files["zorblax.txt"].id,
                     fs_client.vector_stores.files.retrieve, files["zorblax.txt"].id,
                     vector_store_id=store.id)
    # Deleting the File itself takes it out of every store.
    other = fs_client.vector_stores.create(file_ids=[files["penguins.md"].id])
    fs_client.vector_stores.files.poll(files["penguins.md"].id, vector_store_id=other.id)
    fs_client.files.delete(files["penguins.md"].id)
    for sid in (store.id, other.id):
        assert search_files(fs_client, sid, "penguins Antarctica") == []
        assert fs_client.vector_stores.retrieve(sid).file_counts.total == 0
    fs_client.vector_stores.delete(store.id)
    assert_not_found("vector store", store.id, fs_client.vector_stores.search,
                     vector_store_id=store.id, query="x")


def test_restart_keeps_the_indexes(start_server):
    srv = start_server("fs_restart", "--model", "scripted")
    client = srv.client()
    store, _ = ready_store(client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS})
    before = client.vector_stores.search(vector_store_id=store.id, query="kelp engine inventor")
    srv.restart()
    client = srv.client()
    after = client.vector_stores.search(vector_store_id=store.id, query="kelp engine inventor")
    assert [(r.file_id, r.score) for r in after.data] == [(r.file_id, r.score) for r in before.data]
    assert after.data[0].filename == "zorblax.txt"
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 2
