"""A LlamaIndex app pointed at airlock through its "OpenAI-like" classes: run with the clients
venv's python, `python llamaindex_app.py BASE_URL STEP`; prints the step's result as JSON.

Offline settings (README): `OpenAILike(..., is_chat_model=True, context_window=...)` (the
OpenAI class would look the model name up in its own table); LlamaIndex counts tokens with its
bundled tiktoken encoding, so no download happens.
"""

from __future__ import annotations

import json
import sys

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike, OpenAILikeResponses


def main(base_url: str, step: str) -> object:
    llm = OpenAILike(model="gpt-4o-mini", api_base=base_url, api_key="x", is_chat_model=True,
                     context_window=8192, max_retries=0)
    if step == "complete":
        return llm.complete("Say hello.").text
    if step == "chat":
        return llm.chat([ChatMessage(role="user", content="Say hello.")]).message.content
    if step == "stream":
        return "".join(r.delta or "" for r in llm.stream_chat(
            [ChatMessage(role="user", content="Say hello.")]))
    if step.startswith("responses_"):
        # The Responses API: track_previous_responses chains each turn to the last by
        # previous_response_id (stored on the server).
        resp = OpenAILikeResponses(model="gpt-4o-mini", api_base=base_url, api_key="x",
                                   context_window=8192, max_retries=0,
                                   track_previous_responses=True)
        if step == "responses_chat":
            first = resp.chat([ChatMessage(role="user", content="My name is Ada.")])
            second = resp.chat([ChatMessage(role="user", content="What is my name?")])
            # The id of the last response, which the test reads back from the server.
            return [first.message.content, second.message.content, resp._previous_response_id]
        if step == "responses_stream":
            return "".join(r.delta or "" for r in resp.stream_chat(
                [ChatMessage(role="user", content="Say hello.")]))
    if step == "retrieve":
        emb = OpenAILikeEmbedding(model_name="all-MiniLM-L6-v2", api_base=base_url, api_key="x")
        index = VectorStoreIndex.from_documents(
            [Document(text=t) for t in ("The cat sat on the mat.",
                                        "Quarterly revenue grew by ten percent.",
                                        "Bread needs flour, water, salt and yeast.")],
            embed_model=emb)
        nodes = index.as_retriever(similarity_top_k=1).retrieve("How do I bake a loaf?")
        return [n.node.get_content() for n in nodes]
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
