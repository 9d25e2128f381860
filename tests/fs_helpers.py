"""Documents and stores for the file_search tests."""

from __future__ import annotations

import io

import openai

ZORBLAX = (b"Company history. The Zorblax engine was invented by Mira Tell in 1987 in the town of "
           b"Velmora. It runs on compressed kelp and needs the kelp valve, part number XQ-7731, "
           b"replaced every winter.")
PENGUINS = b"# Penguins\n\nEmperor penguins live in Antarctica, dive deep and eat krill and fish.\n"
VOLCANO = (b"<html><head><script>var secret = 'do not index';</script></head><body>"
           b"<h1>Volcanoes</h1><p>Mount Orrin erupted in 1622 and buried the valley in ash.</p>"
           b"</body></html>")


def upload(client: openai.OpenAI, name: str, data: bytes):
    return client.files.create(file=(name, data, "application/octet-stream"), purpose="assistants")


def ready_store(client: openai.OpenAI, docs: dict[str, bytes], **kwargs):
    """A vector store holding `docs` (filename -> bytes), every file ingested; returns
    (store, {filename: File})."""
    files = {name: upload(client, name, data) for name, data in docs.items()}
    store = client.vector_stores.create(name="docs", **kwargs)
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[f.id for f in files.values()])
    assert batch.file_counts.in_progress == 0, batch
    return client.vector_stores.retrieve(store.id), files


def search_files(client: openai.OpenAI, store_id: str, query: str, **kwargs) -> list[str]:
    return [r.filename for r in client.vector_stores.search(vector_store_id=store_id, query=query,
                                                            **kwargs).data]


def docx_bytes(text: str) -> bytes:
    """A one-paragraph Word document."""
    import docx

    doc = docx.Document()
    doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pptx_bytes(text: str) -> bytes:
    """A one-slide PowerPoint deck whose body is `text`."""
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly review"
    slide.placeholders[1].text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()
