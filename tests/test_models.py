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


def test_cli_models_agrees_with_the_endpoint(client):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "airlock", "models"], capture_output=True,
                         text=True, check=True).stdout
    names = [line[2:].split("\t")[0] for line in out.splitlines() if line.strip()]
    assert out.splitlines()[0].startswith("* ")  # the default comes first, marked
    assert sorted(names) == sorted(m.id for m in client.models.list())
    assert "scripted" in names
