"""A LangChain app pointed at airlock: run with the clients venv's python (scripts/install.sh),
`python langchain_app.py BASE_URL STEP`; prints the step's result as JSON for the test to check.

Offline settings an app needs (README): `OpenAIEmbeddings(check_embedding_ctx_length=False)`,
else it fetches tiktoken's encoding from the network to count tokens.
"""

from __future__ import annotations

import json
import sys

from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"3 degrees in {city}"


class City(BaseModel):
    name: str
    country: str


def main(base_url: str, step: str) -> object:
    # responses_<step>: the same step through the Responses API (`use_responses_api=True`).
    responses = step.startswith("responses_")
    step = step.removeprefix("responses_")
    # stream_usage: LangChain asks for include_usage only from api.openai.com by default.
    chat = ChatOpenAI(model="gpt-4o-mini", base_url=base_url, api_key="x", max_retries=0,
                      stream_usage=True, use_responses_api=responses)
    if step == "invoke":
        return chat.invoke("Say hello.").text
    if step == "stream":
        chunks = list(chat.stream("Say hello."))
        text = "".join(c.text for c in chunks)
        if responses:
            return text
        return {"text": text, "usage": sum(chunks[1:], chunks[0]).usage_metadata}
    if step == "tools":
        msg = chat.bind_tools([get_weather]).invoke("Weather in Oslo?")
        return [{"name": c["name"], "args": c["args"]} for c in msg.tool_calls]
    if step == "structured":
        city = chat.with_structured_output(City).invoke(
            "Which city is the capital of France? Give its name and country.")
        return city.model_dump()
    if step == "embeddings":
        emb = OpenAIEmbeddings(model="text-embedding-3-small", base_url=base_url, api_key="x",
                               check_embedding_ctx_length=False, max_retries=0)
        store = InMemoryVectorStore(emb)
        store.add_texts(["The cat sat on the mat.", "Quarterly revenue grew by ten percent.",
                         "Bread needs flour, water, salt and yeast."])
        return [d.page_content for d in store.similarity_search("How do I bake a loaf?", k=1)]
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
