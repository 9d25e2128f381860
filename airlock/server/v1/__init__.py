"""Assistants v1: the routes that serve `OpenAI-Beta: assistants=v1` requests (openai SDK up to
1.20), on the same store and services as v2. `versions.AssistantsVersion` routes v1 requests
here; these modules translate v1 requests into v2 terms and render v2 rows in v1 shapes."""
