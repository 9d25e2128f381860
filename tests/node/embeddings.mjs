// The official Node SDK's embeddings.create against airlock: node embeddings.mjs BASE_URL MODEL TEXT
// Prints one JSON line; the SDK asks for base64 by default and decodes it to floats itself.
import OpenAI from "openai";

const [baseURL, model, text] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "x", maxRetries: 0 });
const r = await client.embeddings.create({ model, input: [text] });
console.log(JSON.stringify({ model: r.model, usage: r.usage, embedding: r.data[0].embedding }));
