"""POST /v1/embeddings and the embedding model in /v1/models, through the strict openai client
(docs/wire/embeddings.md)."""

from __future__ import annotations

import base64
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from helpers import api_error, assert_param, bad_request, dump, envelope, not_found

MODEL = "all-MiniLM-L6-v2"
DIM = 384
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def tokenizer():
    """The embedding model's own tokenizer, to make token arrays the way a client would."""
    from transformers import AutoTokenizer

    from airlock.tools.file_search import default_model_path

    return AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)


def embed(client: openai.OpenAI, **kwargs):
    """A create call asking for floats. The SDK asks for base64 when no format is given and
    decodes it after validating the response, so its strict validation (on in these tests)
    refuses the base64 strings it asked for, from any server: that default is tested below
    with a non-strict client."""
    return client.embeddings.create(**{"encoding_format": "float", **kwargs})


def vectors(response) -> np.ndarray:
    assert [d.index for d in response.data] == list(range(len(response.data)))
    assert all(d.object == "embedding" for d in response.data)
    return np.array([d.embedding for d in response.data], dtype=np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_string_is_one_normalised_vector(fs_client):
    r = embed(fs_client, model=MODEL, input="The quick brown fox.")
    v = vectors(r)
    assert v.shape == (1, DIM)
    assert abs(float(np.linalg.norm(v[0])) - 1.0) < 1e-3
    assert r.model == MODEL and r.object == "list"
    assert r.usage.prompt_tokens == r.usage.total_tokens == 5  # the quick brown fox .


def test_a_list_keeps_its_order_and_matches_single_requests(fs_client):
    texts = ["first sentence here", "a second, rather longer sentence about something else",
             "third"]
    batch = vectors(embed(fs_client, model=MODEL, input=texts))
    assert batch.shape == (3, DIM)
    for text, row in zip(texts, batch, strict=True):
        alone = vectors(embed(fs_client, model=MODEL, input=text))[0]
        assert cosine(row, alone) > 0.999
    single = embed(fs_client, model=MODEL, input=texts[:1]).usage.prompt_tokens
    assert embed(fs_client, model=MODEL, input=texts).usage.prompt_tokens > single


def test_float_and_base64_carry_the_same_values(fs_client, fs_server):
    text = ["Lighthouses guide ships at night.", "Bread rises in a warm oven."]
    as_float = vectors(embed(fs_client, model=MODEL, input=text))
    # The SDK asks for base64 when no format is given, and decodes it itself.
    with openai.OpenAI(base_url=fs_server.base_url, api_key="x", max_retries=0) as lenient:
        by_sdk = vectors(lenient.embeddings.create(model=MODEL, input=text))
    assert np.array_equal(as_float, by_sdk)
    raw = httpx.post(f"{fs_server.base_url}/embeddings", timeout=60, json={
        "model": MODEL, "input": text, "encoding_format": "base64"}).json()
    decoded = np.array([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
                        for d in raw["data"]])
    assert np.array_equal(decoded, as_float)


def test_concurrent_requests_each_get_their_own_vectors(fs_client):
    texts = [f"Note {i}: {topic}" for i, topic in enumerate([
        "tides follow the moon", "bees dance to share directions", "glaciers carve valleys",
        "yeast ferments sugar", "comets have icy tails", "owls hunt at night",
        "rust is iron oxide", "violins have four strings"])]
    alone = {t: vectors(embed(fs_client, model=MODEL, input=t))[0] for t in texts}
    counts = {t: embed(fs_client, model=MODEL, input=t).usage.prompt_tokens for t in texts}

    def ask(text: str):
        if text == texts[3]:  # a refused request among them changes nothing for the others
            return bad_request(fs_client.embeddings.create, model=MODEL, input=text,
                               dimensions=8)
        return embed(fs_client, model=MODEL, input=[text, text])

    with ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(ask, texts))
    for text, answer in zip(texts, answers, strict=True):
        if text == texts[3]:
            assert_param(answer, "dimensions")
            continue
        got = vectors(answer)
        assert got.shape == (2, DIM)
        assert cosine(got[0], alone[text]) > 0.999 and cosine(got[1], alone[text]) > 0.999
        assert answer.usage.prompt_tokens == 2 * counts[text]


def test_similar_texts_are_closer_than_unrelated_ones(fs_client):
    cat, rug, money = vectors(embed(fs_client, model=MODEL, input=[
        "The cat sits on the mat.", "A kitten is lying on a rug.",
        "Quarterly revenue grew by five percent."]))
    assert cosine(cat, rug) > cosine(cat, money) + 0.2


def test_token_arrays_embed_the_text_they_spell(fs_client, tokenizer):
    ids = tokenizer("hello world", add_special_tokens=False)["input_ids"]
    text = vectors(embed(fs_client, model=MODEL, input="hello world"))[0]
    one = embed(fs_client, model=MODEL, input=ids)
    assert cosine(vectors(one)[0], text) > 0.999
    assert one.usage.prompt_tokens == len(ids)
    other = tokenizer("goodbye", add_special_tokens=False)["input_ids"]
    many = vectors(embed(fs_client, model=MODEL, input=[ids, other]))
    assert many.shape == (2, DIM) and cosine(many[0], text) > 0.999


def test_token_ids_outside_the_vocabulary_are_400(fs_client, tokenizer):
    for bad in ([7592, len(tokenizer)], [[7592], [-1]]):
        body = bad_request(fs_client.embeddings.create, model=MODEL, input=bad)
        assert_param(body, "input")
        assert "vocabulary" in body["message"]


def test_long_input_counts_only_the_tokens_the_model_reads(fs_client):
    r = embed(fs_client, model=MODEL, input="word " * 1000)
    assert r.usage.prompt_tokens == 254  # a 256-piece window, two of them special tokens
    assert vectors(r).shape == (1, DIM)


def test_dimensions_only_at_the_native_size(fs_client):
    r = embed(fs_client, model=MODEL, input="hello", dimensions=DIM)
    assert vectors(r).shape == (1, DIM)
    body = bad_request(fs_client.embeddings.create, model=MODEL, input="hello", dimensions=256)
    assert_param(body, "dimensions")
    assert str(DIM) in body["message"]


@pytest.mark.parametrize("bad", ["", [], [""], ["ok", ""], [[]], ["text", 5], 5, [1.5],
                                 [True], None])
def test_malformed_input_is_400_naming_input(fs_client, bad):
    assert_param(bad_request(fs_client.embeddings.create, model=MODEL, input=bad), "input")


def test_other_malformed_fields_are_400(fs_client):
    body = bad_request(fs_client.embeddings.create, model=MODEL, input="x",
                       encoding_format="float16")
    assert_param(body, "encoding_format")
    body = bad_request(fs_client.embeddings.create, model=MODEL, input="x",
                       extra_body={"stream": True})
    assert_param(body, "stream")
    assert_param(bad_request(fs_client.embeddings.create, input="x", model=""), "model")


def test_missing_fields_are_400_never_422(fs_server):
    r = httpx.post(f"{fs_server.base_url}/embeddings", json={"input": "x"}, timeout=60)
    assert envelope(r, 400)["param"] == "model"
    r = httpx.post(f"{fs_server.base_url}/embeddings", json={"model": MODEL}, timeout=60)
    assert envelope(r, 400)["param"] == "input"


def test_unknown_and_chat_models_are_404(fs_client):
    for model in ("no-such-embedder", "scripted"):
        body = not_found(fs_client.embeddings.create, model=model, input="hello")
        assert body["code"] == "model_not_found" and body["param"] == "model"
        assert MODEL in body["message"]


def test_openai_embedding_names_get_the_embedding_model(fs_client):
    mine = vectors(embed(fs_client, model=MODEL, input="same text"))
    for name in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
        r = embed(fs_client, model=name, input="same text")
        assert r.model == MODEL
        assert np.array_equal(vectors(r), mine)


def test_models_list_and_retrieve_the_embedding_model(fs_client):
    listed = {m.id: m for m in fs_client.models.list()}
    assert MODEL in listed and "scripted" in listed
    m = listed[MODEL]
    assert m.object == "model" and m.owned_by == "airlock" and m.created > 0
    assert dump(fs_client.models.retrieve(MODEL)) == dump(m)
    # The OpenAI names are accepted by /embeddings, not models of their own.
    not_found(fs_client.models.retrieve, "text-embedding-3-small")


@pytest.fixture(scope="module")
def guarded(start_server):
    return start_server("embeddings-guarded", "--model", "scripted", "--api-key", "sk-emb",
                        "--strict-models", "--log-level", "debug")


def test_the_api_key_guards_embeddings_and_refusals_are_logged(guarded):
    with guarded.client("wrong") as wrong:
        e = api_error(openai.AuthenticationError, wrong.embeddings.create, model=MODEL,
                      input="hello")
        assert e.status_code == 401
    with guarded.client("sk-emb") as right:
        # Past the guard: the route itself answers (no model load needed for these).
        assert_param(bad_request(right.embeddings.create, model=MODEL, input=""), "input")
        # --strict-models: only the model's own name.
        body = not_found(right.embeddings.create, model="text-embedding-3-small", input="hi")
        assert body["code"] == "model_not_found"
        assert MODEL in {m.id for m in right.models.list()}
    log = guarded.wait_for_log("POST /v1/embeddings 401", "POST /v1/embeddings 400",
                               "POST /v1/embeddings 404")
    assert "sk-emb" not in log


def test_an_oversize_body_is_413(guarded):
    r = httpx.post(f"{guarded.base_url}/embeddings", timeout=60,
                   headers={"Authorization": "Bearer sk-emb"},
                   json={"model": MODEL, "input": ["x" * 1_000_000] * 9})  # over 8 MiB
    envelope(r, 413)


def test_openapi_describes_the_route(fs_server):
    doc = httpx.get(f"{fs_server.root_url}/openapi.json", timeout=60).json()
    post = doc["paths"]["/v1/embeddings"]["post"]
    assert "422" not in post["responses"] and {"400", "404"} <= set(post["responses"])
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[1]
    assert set(doc["components"]["schemas"][ref]["required"]) == {"model", "input"}


def test_the_node_sdk_decodes_the_same_vectors(fs_client, fs_server):
    out = subprocess.run(
        ["node", str(NODE_DIR / "embeddings.mjs"), fs_server.base_url, MODEL, "a red apple"],
        capture_output=True, text=True, timeout=120, cwd=NODE_DIR, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    mine = vectors(embed(fs_client, model=MODEL, input=["a red apple"]))[0]
    assert seen["model"] == MODEL and seen["usage"]["prompt_tokens"] == 3
    assert np.array_equal(np.array(seen["embedding"], dtype=np.float32), mine)
