from __future__ import annotations

from helpers import dump, not_found


def test_list_models(client):
    models = client.models.list().data
    assert models, "GET /models returned no model"
    assert all(m.object == "model" and m.id for m in models)


def test_retrieve_listed_model(client):
    for m in client.models.list().data:
        assert dump(client.models.retrieve(m.id)) == dump(m)


def test_unknown_model_is_404(client):
    body = not_found(client.models.retrieve, "no-such-model")
    assert "no-such-model" in body["message"]
